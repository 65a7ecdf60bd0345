"""The deployable model: the inference graph rewired to take raw data and, on request, to give
probabilities — so an exported classifier works on the rows and pictures it will really see.

Both are edits of the compiled `fx.Graph`, not a wrapper module, so every ONNX node still names
the node it came from: the data Input's preprocessing is a submodule named after that Input
(`/input1/Cast`, `/input1/Transpose`, `/input1/Sub`, `/input1/Div`) and the softmax one named
`probabilities` after the output it adds. What the preprocessing does is defined once, in
engine/preprocessing.py (`to_model_input` is its numpy twin, used by `layerloom predict`).
"""

from __future__ import annotations

import dataclasses

import torch
import torch.fx as fx

from nodes.io import is_noise

from ..compile import CompiledGraph
from ..document import GraphDocument
from ..errors import ExportError
from ..preprocessing import entry, raw_input, standardisation

PROBABILITIES = "probabilities"  # the softmax output's name in the ONNX graph


class Preprocess(torch.nn.Module):
    """Raw sample → x: uint8 pixels (N, H, W, C) → float (N, C, H, W)·scale for images, then (x − mean) / std."""

    def __init__(self, prep: dict):
        super().__init__()
        self.scale = prep["scale"] if prep["kind"] == "image" else None
        stats = standardisation(prep)
        self.standardise = stats is not None
        if stats is not None:
            self.register_buffer("mean", torch.from_numpy(stats[0]))
            self.register_buffer("std", torch.from_numpy(stats[1]))

    @property
    def active(self) -> bool:
        return self.scale is not None or self.standardise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale is not None:
            x = x.permute(0, 3, 1, 2).float() * self.scale  # (N, C, H, W)
        if self.standardise:
            x = (x - self.mean) / self.std
        return x


def data_input(doc: GraphDocument, compiled: CompiledGraph) -> str | None:
    """The Input the dataset's x feeds (the one Input whose source is not noise), if there is one."""
    inputs = [name for name in compiled.input_names if not is_noise(doc.nodes[name].params)]
    return inputs[0] if len(inputs) == 1 else None


def is_classifier(doc: GraphDocument, data: dict | None) -> bool:
    """Trained on class labels, scored against a Target: its first Output holds one score per class."""
    return bool(data) and data.get("task") == "classification" and any(
        node.type_id == "Target" for node in doc.nodes.values())


def deployable(doc: GraphDocument, compiled: CompiledGraph, data: dict | None, *, preprocessing: bool,
               softmax: bool) -> tuple[CompiledGraph, dict | None]:
    """`compiled` rewired for deployment, and the preprocessing entry for the ONNX metadata (None
    without a run's data description). `compiled` is edited in place."""
    prep = None
    if data is not None and not all(is_noise(doc.nodes[n].params) for n in compiled.input_names):
        # (a GAN's generator exported alone takes noise only: no data to prepare)
        name = data_input(doc, compiled)
        if name is None:
            raise ExportError(f"the run's data feeds one data Input, but the graph has "
                              f"{', '.join(compiled.input_names) or 'none'} — export the graph that was trained")
        shape, dtype = compiled.placeholder_specs[name]
        if list(shape[1:]) != data["input_shape"] or dtype != data["input_dtype"]:
            raise ExportError(f"{name} (Input) is {list(shape[1:])} {dtype} but the run's data.json describes "
                              f"{data['input_shape']} {data['input_dtype']} — export the graph that was trained")
        prep = entry(data, name, built_in=preprocessing)
        step = Preprocess(prep)
        if preprocessing and step.active:  # text models take token ids either way
            _insert_after_input(compiled.module, name, step)
            raw_shape, raw_dtype = raw_input(prep)
            compiled = dataclasses.replace(
                compiled, placeholder_specs={**compiled.placeholder_specs, name: ((None, *raw_shape), raw_dtype)})
    if softmax:
        if not is_classifier(doc, data):
            raise ExportError("a softmax output needs a classifier: export the weights of a run trained on class "
                              "labels (--weights RUN_DIR)")
        if PROBABILITIES in doc.nodes:
            raise ExportError(f"the graph has a node named {PROBABILITIES!r}, the name of the softmax output — "
                              "rename the node")
        _append_softmax(compiled.module)
        compiled = dataclasses.replace(compiled, output_names=[*compiled.output_names, PROBABILITIES])
    compiled.module.recompile()
    return compiled, prep


def _insert_after_input(module: fx.GraphModule, name: str, step: torch.nn.Module) -> None:
    """Every use of placeholder `name` now reads `step(name)`; `step` is registered under the Input's id."""
    if hasattr(module, name):
        raise ExportError(f"{name} (Input): the id {name!r} is a torch attribute name, so its preprocessing "
                          "cannot be named after it — rename the node")
    module.add_submodule(name, step)
    graph = module.graph
    placeholder = next(node for node in graph.nodes if node.op == "placeholder" and node.target == name)
    with graph.inserting_after(placeholder):
        call = graph.call_module(name, (placeholder,))
    placeholder.replace_all_uses_with(call, delete_user_cb=lambda user: user is not call)


def _append_softmax(module: fx.GraphModule) -> None:
    """Outputs become (…, softmax of the first output over its last, class axis)."""
    module.add_submodule(PROBABILITIES, torch.nn.Softmax(dim=-1))
    graph = module.graph
    output = next(node for node in graph.nodes if node.op == "output")
    results = output.args[0] if isinstance(output.args[0], tuple) else (output.args[0],)
    with graph.inserting_before(output):
        probabilities = graph.call_module(PROBABILITIES, (results[0],))
    output.args = ((*results, probabilities),)
