"""The model card written next to every export: what goes in and out, what it was trained on and
how, how well it did, how well the export matches torch, and the software and machine that made
it. JSON for tools, Markdown for people.

The training settings are the run's resolved config.json (every default in force), not the
graph's training section, which may have changed since; the data description is the run's
data.json with its bulky arrays (vocabulary, standardisation statistics) summarised — they travel
in full in the ONNX metadata.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nodes import format_shape

from ..config import TrainingConfig
from ..document import GraphDocument
from ..errors import ConfigError
from ..fileformat import atomic_write_text
from ..text_safety import markdown_code, markdown_fence, markdown_text
from ..validate import validate
from .metadata import package_version
from .run_record import TrainedRun

UNTRAINED = "UNTRAINED — a fresh random initialisation"
PACKAGES = ("layerloom", "torch", "onnx", "onnxruntime", "numpy")


def build_card(doc: GraphDocument, *, parameters: int, run: TrainedRun, onnx: dict | None = None,
               python: dict | None = None, weights: Path | None = None) -> dict[str, Any]:
    report = validate(doc)
    inputs = [{"name": n, "shape": format_shape(report.shapes[(n, "out")]), "dtype": doc.nodes[n].params.get("dtype")}
              for n in report.order if doc.nodes[n].type_id == "Input"]
    outputs = []
    for edge in doc.edges:
        if doc.nodes[edge.dst].type_id == "Output":
            outputs.append({"name": edge.dst, "shape": format_shape(report.shapes[(edge.src, edge.src_port)])})
    training, source = _training(doc, run)
    return {
        "model": doc.name,
        "description": doc.description,
        "exported": datetime.now(UTC).isoformat(timespec="seconds"),
        "warnings": export_warnings(weights, run),
        "inputs": inputs,
        "outputs": outputs,
        "parameters": parameters,
        "weights": str(weights) if weights else UNTRAINED,
        "training": training,
        "training_source": source,
        "data": _data(run.data),
        "final_metrics": _final_metrics(run.summary),
        "versions": {"python": platform.python_version(), **{name: package_version(name) for name in PACKAGES}},
        "machine": _machine(),
        "onnx": onnx,
        "python": python,
    }


def export_warnings(weights: Path | None, run: TrainedRun) -> list[str]:
    """What the user must know before deploying this export."""
    if weights is None:
        return ["UNTRAINED: no --weights given, so the export holds a fresh random initialisation and its "
                "outputs mean nothing — export a run folder: --weights RUN_DIR"]
    if run.data is None:
        return [f"{weights}: no data.json beside it, so the export knows no preprocessing and no class names — "
                "it takes inputs exactly as the network saw them in training; export the run folder instead"]
    return []


def _training(doc: GraphDocument, run: TrainedRun) -> tuple[dict, str]:
    """The settings in force: the run's config.json, else the graph's section with defaults filled in."""
    if run.config is not None:
        return run.config, "the run's config.json: every setting in force, defaults included"
    try:
        return TrainingConfig.from_dict(doc.training).to_dict(), "the graph's training section, defaults filled in"
    except ConfigError:
        return doc.training, "the graph's training section, as written (it does not validate)"


def _data(data: dict | None) -> dict | None:
    """data.json for people: class names and preprocessing kept, the vocabulary and statistics summarised."""
    if data is None:
        return None
    described = {key: data.get(key) for key in ("dataset", "summary", "task", "input_shape", "input_dtype",
                                                  "num_classes", "class_names", "train_samples", "val_samples")}
    raw = dict(data["raw"])
    vocab = raw.pop("vocab", None)
    bpe = raw.pop("tokenizer", None) is not None  # the whole tokenizer.json: it travels in the ONNX metadata
    if vocab is not None:
        raw["vocab_size"] = len(vocab)
        described["class_names"] = f"the {len(vocab)} {'BPE tokens' if bpe else 'characters'} of the vocabulary"
    if bpe:
        raw["tokenizer"] = "byte-level BPE (its tokenizer.json is in the ONNX metadata)"
    if "columns" in raw:  # a table: how each column is read, in words (the full record is in the ONNX metadata)
        raw["columns"] = [_column(column) for column in raw["columns"]]
        raw["encoded"] = f"{len(raw.get('encoded') or [])} model features"
    target = raw.pop("target_normalization", None)
    if target:
        described["target"] = (f"standardised for training: a prediction p means p × {target['std'][0]:.6g} + "
                               f"{target['mean'][0]:.6g}" + (" (per output)" if len(target["std"]) > 1 else "")
                               + " — `layerloom predict` gives the target's units")
    described["raw"] = raw
    norm = data.get("normalization")
    described["standardisation"] = (
        f"(x − mean) / std with {len(norm['mean'])} mean/std values along sample axis {norm['axis']}, "
        "taken from the training split" if norm else "none")
    return described


def _column(column: dict | str) -> str:
    """ "contract: category (month-to-month, one year, two year); empty → month-to-month, with an indicator"
    (a record written before columns were encoded names them only)."""
    if not isinstance(column, dict):
        return str(column)
    kind = column["kind"]
    values = column.get("values") or []
    if kind == "category":
        shown = ", ".join(values[:8]) + (", …" if len(values) > 8 else "")
        shown += ", (other)" if column.get("other") else ""
        kind = f"category ({shown})"
    elif kind == "binary":
        kind = f"yes/no ({values[0]} = 0, {values[1]} = 1)"
    fill = column.get("fill")
    empty = f"; empty → {fill:.6g}" if isinstance(fill, float) else f"; empty → {fill}" if fill is not None else ""
    return f"{column['name']}: {kind}{empty}{', with an indicator' if column.get('indicator') else ''}"


def _final_metrics(summary: dict | None) -> dict | None:
    if summary is None:
        return None
    return {key: summary[key] for key in ("state", "metrics", "best") if key in summary}


def _machine() -> dict[str, Any]:
    import torch

    return {"platform": platform.platform(), "architecture": platform.machine(), "cpu_count": os.cpu_count(),
            "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]}  # 0 without CUDA


def write_card(card: dict[str, Any], export_path: Path) -> tuple[Path, Path]:
    """Write `model.card.json` and `model.card.md` beside `model.onnx`; returns both paths."""
    base = Path(export_path).parent / Path(export_path).stem
    json_path, md_path = base.with_name(base.name + ".card.json"), base.with_name(base.name + ".card.md")
    atomic_write_text(json_path, json.dumps(card, indent=2, ensure_ascii=False, default=str) + "\n")
    atomic_write_text(md_path, _markdown(card))
    return json_path, md_path


def _markdown(card: dict[str, Any]) -> str:
    """The card for people. Every value that a user, a data set or a file supplied — the graph's name and
    description, node and class names, paths, data summaries — goes through `markdown_text` (or, for JSON,
    `markdown_fence`), so none can add HTML, a heading, a list, a link or a code fence to the card, and the
    warnings always render as the card's own text, never inside something the description opened."""
    md, code = markdown_text, markdown_code
    lines = [f"# {md(card['model'])}", "", md(card["description"] or "", multiline=True), ""]
    lines += [f"> **Warning: {md(warning)}**" for warning in card["warnings"]] + ([""] if card["warnings"] else [])
    lines += [f"Exported {md(card['exported'])} · {card['parameters']:,} parameters · weights: {md(card['weights'])}",
              "", "| | name | shape |", "|---|---|---|"]
    lines += [f"| input | {md(i['name'])} | {md(i['shape'])} {md(i['dtype'] or '')} |" for i in card["inputs"]]
    lines += [f"| output | {md(o['name'])} | {md(o['shape'])} |" for o in card["outputs"]]
    if card["data"]:
        data = card["data"]
        names = data["class_names"]
        classes = ", ".join(map(str, names)) if isinstance(names, list) else names  # text: a vocabulary summary
        lines += ["", "## Data", md(data["summary"] or ""), "",
                  f"- task: {md(data['task'])}" + (f", classes: {md(classes)}" if classes else ""),
                  f"- raw input: {code(json.dumps(data['raw'], ensure_ascii=False))}",
                  f"- standardisation: {md(data['standardisation'])}"]
    if card["onnx"]:
        onnx = card["onnx"]
        verdict = "passed" if onnx["passed"] else "FAILED"
        lines += ["", "## ONNX", f"{code(onnx['path'])}, opset {onnx['opset']}, parity {verdict}: max abs error "
                  f"{onnx['max_abs_error']:.2e}, max rel error {onnx['max_rel_error']:.2e}",
                  f"Preprocessing: {md(onnx['preprocessing'])}."]
        lines += [f"- {kind} {code(s['name'])}: {md(format_shape(s['shape']))} {md(s['dtype'])}" for kind, signature in
                  (("input", onnx["inputs"]), ("output", onnx["outputs"])) for s in signature]
        lines += [f"- {md(c['description'])}: abs {c['max_abs_error']:.2e}" for c in onnx["cases"]]
    if card["python"]:
        lines += ["", "## PyTorch code", f"{code(card['python']['code_path'])} with weights "
                  f"{code(card['python']['weights_path'])}"]
    if card["final_metrics"]:
        lines += ["", "## Final metrics", *markdown_fence(json.dumps(card["final_metrics"], indent=2), "json")]
    lines += ["", "## Training configuration", f"From {md(card['training_source'])}.",
              *markdown_fence(json.dumps(card["training"], indent=2, ensure_ascii=False), "json")]
    machine = card["machine"]
    lines += ["", "## Versions and machine",
              md(" · ".join(f"{name} {version}" for name, version in card["versions"].items())),
              md(f"{machine['platform']} ({machine['architecture']}), {machine['cpu_count']} CPUs"
                 + (f", GPUs: {', '.join(machine['gpus'])}" if machine["gpus"] else ", no GPU")), ""]
    return "\n".join(lines)
