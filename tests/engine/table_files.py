"""Synthetic tables like the ones users bring: a customer-churn CSV (numbers, text categories, yes/no, an id
column, empty cells, 22 % positives) and a house-price CSV whose price is on a real scale (1e5–1e6)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

CONTRACTS = ("month-to-month", "one year", "two year")
PAYMENTS = ("electronic check", "mailed check", "bank transfer", "credit card")


def churn_rows(rows: int, seed: int = 0) -> tuple[list[str], list[list[str]]]:
    """Header and rows; churn depends on contract, tenure, charges and paperless billing."""
    rng = np.random.default_rng(seed)
    header = ["customer_id", "tenure", "contract", "payment", "paperless", "monthly_charges", "total_charges",
              "churn"]
    out = []
    for i in range(rows):
        tenure = int(rng.integers(1, 72))
        contract = int(rng.choice(3, p=(0.5, 0.3, 0.2)))
        paperless = bool(rng.random() < 0.6)
        monthly = float(rng.uniform(20, 110))
        score = 1.2 - 1.8 * contract - 0.05 * tenure + 0.025 * (monthly - 65) + 0.9 * paperless
        churn = rng.random() < 1 / (1 + np.exp(-2.0 * score))
        total = f"{tenure * monthly:.2f}" if rng.random() > 0.02 else ""  # empty cells, as new customers have
        out.append([f"C{100000 + i}", str(tenure), CONTRACTS[contract] if rng.random() > 0.01 else "",
                    PAYMENTS[int(rng.integers(4))], "yes" if paperless else "no", f"{monthly:.2f}", total,
                    "yes" if churn else "no"])
    return header, out


def house_rows(rows: int, seed: int = 0) -> tuple[list[str], list[list[str]], np.ndarray]:
    """Header, rows and the prices: a linear function of size, rooms and the neighbourhood, plus noise."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(40, 250, rows)
    rooms = rng.integers(1, 7, rows)
    area = rng.integers(0, 3, rows)
    price = 2500 * size + 15000 * rooms + np.array([0, 80000, 200000])[area] + 50000 + rng.normal(0, 15000, rows)
    header = ["size_m2", "rooms", "area", "price"]
    out = [[f"{s:.1f}", str(r), ("north", "centre", "harbour")[a], f"{p:.0f}"]
           for s, r, a, p in zip(size, rooms, area, price, strict=True)]
    return header, out, price


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path
