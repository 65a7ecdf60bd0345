"""Does the graph fit its dataset? The checks a run would otherwise fail on at Train, made while
editing, each with the one edit that fixes it — and the one a run would pass but show less for: a
supervised graph without an Output node trains its losses only (no accuracy, no confusion matrix).

    checks = data_checks(doc, report, info)   # info: the dataset's input_shape, input_dtype, num_classes…

`info` is what the worker's `describe_dataset` answers (engine/data's DataSplit: input_shape,
input_dtype, task, num_classes, name). The checks are plain data — the app lists them in the
problems panel with a Fix button and applies the fix (a `SetParam`, an `AddOutput` it places on the
canvas, a `ReplaceNode` for the loss of the task), and `layerloom validate --fix` applies them all
(data_fixes.py); nothing here imports torch or Qt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from nodes import format_shape, get_spec
from nodes.io import is_noise

from .document import GraphDocument
from .validate import ValidationReport

CLASS_LOSSES = ("CrossEntropyLoss",)  # losses that take one score per class against int64 indices


class SetParam(NamedTuple):
    """Fix: set one parameter of one node."""

    node: str
    param: str
    value: Any

    def __str__(self) -> str:
        return f"set {self.node}.{self.param} to {self.value}"


class AddOutput(NamedTuple):
    """Fix: add an Output node wired to `node`.`port` (the app places it beside `node`)."""

    node: str
    port: str

    def __str__(self) -> str:
        return f"add an Output node wired to {self.node}.{self.port}"


class ReplaceNode(NamedTuple):
    """Fix: put a node of another type (default params) in `node`'s place, same id and wires (a loss for the task)."""

    node: str
    type_id: str

    def __str__(self) -> str:
        return f"replace {self.node} with a {self.type_id}"


Fix = SetParam | AddOutput | ReplaceNode


@dataclass(frozen=True)
class DataCheck:
    node: str
    message: str
    fix: Fix | None = None  # the one edit that resolves it

    def fix_text(self) -> str | None:
        return str(self.fix) if self.fix else None


def data_checks(doc: GraphDocument, report: ValidationReport, info: dict) -> list[DataCheck]:
    return [*_input_checks(doc, info), *_class_checks(doc, report, info), *_vocabulary_checks(doc, info),
            *_task_checks(doc, info), *_output_checks(doc, info)]


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
                                SetParam(node_id, "shape", want_shape)))
    if have_dtype != want_dtype:
        checks.append(DataCheck(node_id, f"{given}, but {node_id} is {have_dtype}",
                                SetParam(node_id, "dtype", want_dtype)))
    return checks


def _class_checks(doc: GraphDocument, report: ValidationReport, info: dict) -> list[DataCheck]:
    """Every class loss's predictions must have one score per class of the dataset."""
    classes = info.get("num_classes")
    if info.get("task") != "classification" or not classes:
        return []
    checks = []
    for loss_id, wire in _scored_wires(doc):
        shape = report.edge_shape(wire)
        if not shape or shape[-1] is None or shape[-1] == classes:
            continue
        source = wire.src
        fixable = "out_features" in doc.nodes[source].params
        checks.append(DataCheck(
            source, f"the dataset has {classes} classes, but {loss_id} gets {shape[-1]} scores per sample from "
                    f"{source}", SetParam(source, "out_features", classes) if fixable else None))
    return checks


def head_classes(doc: GraphDocument, node_id: str | None, info: dict | None) -> SetParam | None:
    """The inspector's "Set classes from dataset": for a classifier's head — a layer with `out_features` whose
    output a class loss scores (the Linear before the Output) — the edit giving it one score per class of the
    dataset, whatever it has now (fine-tuning replaces a pretrained head this way); None for any other node, or
    when the dataset is not a classification with known classes."""
    classes = info.get("num_classes") if info and info.get("task") == "classification" else None
    node = doc.nodes.get(node_id) if node_id else None
    if not classes or node is None or "out_features" not in node.params:
        return None
    if not any(wire.src == node_id for _, wire in _scored_wires(doc)):
        return None
    return SetParam(node_id, "out_features", classes)


def _scored_wires(doc: GraphDocument):
    """(loss id, the wire bringing its predictions) for every class loss whose `pred` is wired."""
    for loss_id, node in doc.nodes.items():
        wires = doc.edges_into(loss_id, "pred") if node.type_id in CLASS_LOSSES else []
        if wires:
            yield loss_id, wires[0]


def _vocabulary_checks(doc: GraphDocument, info: dict) -> list[DataCheck]:
    """An Embedding reading a text's token ids needs a row per token (switching characters to BPE grows the
    vocabulary): ids past its table fail the run."""
    tokens = info.get("vocab_size")
    if not tokens:
        return []
    checks = []
    for input_id, node in doc.nodes.items():
        if node.type_id != "Input" or is_noise(node.params):
            continue
        for edge in (e for e in doc.edges_of(input_id) if e.src == input_id):
            rows = doc.nodes[edge.dst].params.get("num_embeddings")
            if doc.nodes[edge.dst].type_id == "Embedding" and rows != tokens:
                checks.append(DataCheck(edge.dst, f"the text has {tokens} tokens, but {edge.dst} has {rows} rows "
                                                  "(one per token id)", SetParam(edge.dst, "num_embeddings", tokens)))
    return checks


REGRESSION_LOSSES = ("MSELoss", "L1Loss")


def _task_checks(doc: GraphDocument, info: dict) -> list[DataCheck]:
    """A regression's float targets cannot feed a class loss (the run would fail on the target's dtype), and the
    Target must be shaped and typed like the dataset's y."""
    if info.get("task") != "regression" or "target_shape" not in info:
        return []
    shape = list(info["target_shape"])
    given = f"dataset {info.get('name', '')!r} is a regression (y {format_shape((None, *shape))} float32)"
    width = shape[-1] if shape else 1
    checks = [DataCheck(loss_id, f"{given}, but {loss_id} is {node.type_id}, which scores classes against int64 "
                                 f"class indices — replace {loss_id} with {' or '.join(REGRESSION_LOSSES)} and give "
                                 f"its prediction {width} value(s) per sample",
                        ReplaceNode(loss_id, REGRESSION_LOSSES[0]))
              for loss_id, node in doc.nodes.items() if node.type_id in CLASS_LOSSES]
    for loss_id, node in doc.nodes.items():  # each regression loss's prediction: one value per target column
        wires = doc.edges_into(loss_id, "pred") if node.type_id in REGRESSION_LOSSES else []
        source = doc.nodes[wires[0].src] if wires else None
        if source is not None and source.params.get("out_features", width) != width:
            checks.append(DataCheck(wires[0].src, f"{given}, but {loss_id} gets {source.params['out_features']} "
                                                  f"values per sample from {wires[0].src}",
                                    SetParam(wires[0].src, "out_features", width)))
    for target_id, node in doc.nodes.items():
        if node.type_id != "Target":
            continue
        if list(node.params.get("shape") or []) != shape:
            checks.append(DataCheck(target_id, f"{given}, but {target_id} is "
                                               f"{format_shape((None, *(node.params.get('shape') or [])))}",
                                    SetParam(target_id, "shape", shape)))
        if node.params.get("dtype", "float32") != "float32":
            checks.append(DataCheck(target_id, f"{given}, but {target_id} is {node.params.get('dtype')}",
                                    SetParam(target_id, "dtype", "float32")))
    return checks


# What a run shows from its Output node, by what it learns (engine/tasks: the kind of a run)
SHOWN_FROM_OUTPUT = {"classification": "accuracy and the confusion matrix",
                     "regression": "the error (MAE, RMSE) and predicted against true values",
                     "reconstruction": "the reconstructions"}


def _output_checks(doc: GraphDocument, info: dict) -> list[DataCheck]:
    """A supervised graph with a wired loss but no Output trains, yet its run can show nothing it predicts:
    the run's kind (engine/tasks) reads the prediction from the first Output. The fix wires an Output to
    what the loss scores, as the templates do. (A GAN names its Outputs in training.gan: validated there.)"""
    if doc.training.get("mode", "supervised") != "supervised" or any(_role(n) == "output" for n in doc.nodes.values()):
        return []
    for loss_id, node in doc.nodes.items():
        wires = doc.edges_into(loss_id, "pred") if _role(node) == "loss" else []
        if wires:
            break
    else:
        return []
    has_target = any(_role(n) == "target" for n in doc.nodes.values())
    task = info.get("task") if has_target else "reconstruction"
    if task not in SHOWN_FROM_OUTPUT:
        return []
    return [DataCheck(loss_id, f"the graph has no Output node, so a run cannot show {SHOWN_FROM_OUTPUT[task]} "
                               "(an Output marks the model's prediction)", AddOutput(wires[0].src, wires[0].src_port))]


def _role(node) -> str | None:
    spec = get_spec(node.type_id)
    return spec.role if spec else None
