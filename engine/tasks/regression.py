"""Regression: predicted against true values (the data of a scatter plot), MAE and RMSE — in the target's own
units: a run that standardised its targets (DataSplit.target_normalization) has both mapped back, so a
house-price model's MAE reads in currency, not in standard deviations."""

from __future__ import annotations

import torch

from ..preprocessing import destandardise
from .base import Sample, TaskKind, predictions

MAX_POINTS = 256  # values in the scatter data (all outputs of the first samples)


class Regression(TaskKind):
    name = "regression"

    def metrics(self, setup, sample: Sample) -> dict[str, float]:
        predicted, true = in_units(setup, predictions(setup, sample)), in_units(setup, sample.y.float())
        error = predicted - true
        variance = (true - true.mean()).pow(2).sum()
        metrics = {"mae": float(error.abs().mean()), "rmse": float(error.pow(2).mean().sqrt())}
        if variance > 0:
            metrics["r2"] = float(1 - error.pow(2).sum() / variance)
        return metrics

    def artifacts(self, setup, sample: Sample, out) -> None:
        predicted = in_units(setup, predictions(setup, sample)).reshape(-1)[:MAX_POINTS]
        out.data("predicted_vs_true", {"true": in_units(setup, sample.y.float()).reshape(-1)[:MAX_POINTS].tolist(),
                                       "predicted": predicted.tolist()})


def in_units(setup, values: torch.Tensor) -> torch.Tensor:
    """A batch of standardised targets or predictions (N, *target_shape) in the data's units (float64, on the CPU)."""
    return torch.from_numpy(destandardise(setup.data.target_normalization, values.double().cpu().numpy()))
