"""Does the graph fit its dataset? The checks a run would otherwise fail on at Train, made while
editing, each with the one parameter change that fixes it.

    checks = data_checks(doc, report, info)   # info: the dataset's input_shape, input_dtype, num_classes…

`info` is what the worker's `describe_dataset` answers (engine/data's DataSplit: input_shape,
input_dtype, task, num_classes, name). The checks are plain data — the app lists them in the
problems panel with a Fix button; nothing here imports torch or Qt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nodes import format_shape
from nodes.io import is_noise

from .document import GraphDocument
from .validate import ValidationReport

CLASS_LOSSES = ("CrossEntropyLoss",)  # losses that take one score per class against int64 indices


@dataclass(frozen=True)
class DataCheck:
    node: str
    message: str
    fix: tuple[str, str, Any] | None = None  # (node id, param, value) that resolves it

    def fix_text(self) -> str | None:
        return f"set {self.fix[0]}.{self.fix[1]} to {self.fix[2]}" if self.fix else None


def data_checks(doc: GraphDocument, report: ValidationReport, info: dict) -> list[DataCheck]:
    return [*_input_checks(doc, info), *_class_checks(doc, report, info)]


def _input_checks(doc: GraphDocument, info: dict) -> list[DataCheck]:
    """The data Input (the one Input not fed noise) must be shaped and typed like the dataset's x."""
    inputs = [n for n, node in doc.nodes.items() if node.type_id == "Input" and not is_noise(node.params)]
    if len(inputs) != 1:
        return []  # none or several: validation and the trainer say what is wrong
    (node_id,) = inputs
    params = doc.nodes[node_id].params
    want_shape, want_dtype = list(info["input_shape"]), info["input_dtype"]
    have_shape, have_dtype = list(params.get("shape") or []), params.get("dtype", "float32")
    given = f"dataset {info.get('name', '')!r} gives {format_shape((None, *want_shape))} {want_dtype}"
    checks = []
    if have_shape != want_shape:
        checks.append(DataCheck(node_id, f"{given}, but {node_id} is {format_shape((None, *have_shape))}",
                                (node_id, "shape", want_shape)))
    if have_dtype != want_dtype:
        checks.append(DataCheck(node_id, f"{given}, but {node_id} is {have_dtype}", (node_id, "dtype", want_dtype)))
    return checks


def _class_checks(doc: GraphDocument, report: ValidationReport, info: dict) -> list[DataCheck]:
    """Every class loss's predictions must have one score per class of the dataset."""
    classes = info.get("num_classes")
    if info.get("task") != "classification" or not classes:
        return []
    checks = []
    for loss_id, node in doc.nodes.items():
        if node.type_id not in CLASS_LOSSES:
            continue
        wires = doc.edges_into(loss_id, "pred")
        shape = report.edge_shape(wires[0]) if wires else None
        if not shape or shape[-1] is None or shape[-1] == classes:
            continue
        source = wires[0].src
        fixable = "out_features" in doc.nodes[source].params
        checks.append(DataCheck(
            source, f"the dataset has {classes} classes, but {loss_id} gets {shape[-1]} scores per sample from "
                    f"{source}", (source, "out_features", classes) if fixable else None))
    return checks
