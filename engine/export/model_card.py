"""The model card written next to every export: what goes in and out, how it was trained, how
well the export matches torch. JSON for tools, Markdown for people."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nodes import format_shape

from ..document import GraphDocument
from ..fileformat import atomic_write_text
from ..validate import validate


def build_card(doc: GraphDocument, *, parameters: int, onnx: dict | None = None, python: dict | None = None,
               weights: Path | None = None) -> dict[str, Any]:
    report = validate(doc)
    inputs = [{"name": n, "shape": format_shape(report.shapes[(n, "out")]), "dtype": doc.nodes[n].params.get("dtype")}
              for n in report.order if doc.nodes[n].type_id == "Input"]
    outputs = []
    for edge in doc.edges:
        if doc.nodes[edge.dst].type_id == "Output":
            outputs.append({"name": edge.dst, "shape": format_shape(report.shapes[(edge.src, edge.src_port)])})
    return {
        "model": doc.name,
        "description": doc.description,
        "exported": datetime.now(UTC).isoformat(timespec="seconds"),
        "inputs": inputs,
        "outputs": outputs,
        "parameters": parameters,
        "weights": str(weights) if weights else "fresh (untrained) initialisation",
        "training": doc.training,
        "final_metrics": _final_metrics(weights),
        "onnx": onnx,
        "python": python,
    }


def _final_metrics(weights: Path | None) -> dict | None:
    """The run's summary.json beside the weights, when there is one."""
    if weights is None:
        return None
    summary = Path(weights).parent / "summary.json"
    try:
        data = json.loads(summary.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    return {key: data[key] for key in ("state", "metrics", "best") if key in data}  # the run's summary.json


def write_card(card: dict[str, Any], export_path: Path) -> tuple[Path, Path]:
    """Write `model.card.json` and `model.card.md` beside `model.onnx`; returns both paths."""
    base = Path(export_path).parent / Path(export_path).stem
    json_path, md_path = base.with_name(base.name + ".card.json"), base.with_name(base.name + ".card.md")
    atomic_write_text(json_path, json.dumps(card, indent=2, ensure_ascii=False, default=str) + "\n")
    atomic_write_text(md_path, _markdown(card))
    return json_path, md_path


def _markdown(card: dict[str, Any]) -> str:
    lines = [f"# {card['model']}", "", card["description"] or "", "",
             f"Exported {card['exported']} · {card['parameters']:,} parameters · weights: {card['weights']}", "",
             "| | name | shape |", "|---|---|---|"]
    lines += [f"| input | {i['name']} | {i['shape']} {i['dtype'] or ''} |" for i in card["inputs"]]
    lines += [f"| output | {o['name']} | {o['shape']} |" for o in card["outputs"]]
    if card["onnx"]:
        onnx = card["onnx"]
        verdict = "passed" if onnx["passed"] else "FAILED"
        lines += ["", "## ONNX", f"`{onnx['path']}`, opset {onnx['opset']}, parity {verdict}: max abs error "
                  f"{onnx['max_abs_error']:.2e}, max rel error {onnx['max_rel_error']:.2e}"]
        lines += [f"- {c['description']}: abs {c['max_abs_error']:.2e}" for c in onnx["cases"]]
    if card["python"]:
        lines += ["", "## PyTorch code", f"`{card['python']['code_path']}` with weights "
                  f"`{card['python']['weights_path']}`"]
    if card["final_metrics"]:
        lines += ["", "## Final metrics", "```json", json.dumps(card["final_metrics"], indent=2), "```"]
    lines += ["", "## Training configuration", "```json", json.dumps(card["training"], indent=2), "```", ""]
    return "\n".join(lines)
