"""ONNX export that is proven before anyone is told it worked.

The inference flavour of the compiled graph is exported with torch's TorchScript-based exporter
(`dynamo=False`): it handles every node family here — recurrent layers with a dynamic time axis
included, which the dynamo exporter still fails on — and names ONNX nodes after the module scopes
(`/conv1/Conv`), so each traces back to the node the user drew. Inputs and outputs are named after
the Input and Output nodes; the batch axis is always dynamic, and an input's length axis is made
dynamic when the network is found to accept another length.

Weights from a training run are exported deployable (deploy.py): the graph takes raw data — the
run's preprocessing built in unless `preprocessing=False` — and may add a `probabilities` output;
the metadata (metadata.py) says what goes in and out and what the classes are called. Then
`onnx.checker` runs on the file as written, and onnxruntime evaluates batch sizes (and lengths)
never seen at export time — fed inputs of the dtype and layout the graph takes (raw pixels, raw
features) — and its outputs are compared with torch's.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from nodes import format_shape, get_spec
from nodes.layers.tied import shares_weights

from ..compile import CompiledGraph
from ..document import GraphDocument
from ..errors import ExportError
from ..validate import DTYPE_AGNOSTIC
from .block_modules import nested_module
from .deploy import deployable
from .metadata import add_metadata
from .run_record import TrainedRun
from .weights import inference_graph, resolve_weights

DEFAULT_OPSET = 17
EXPORT_BATCH = 2
CHECK_BATCHES = (1, 5)
# Values in one sample of all the inputs together: the checks run up to max(CHECK_BATCHES) samples
# through the model, so 2²⁵ (128 MiB of float32 per sample, a 4K RGB image fits) keeps them sane.
MAX_SAMPLE_VALUES = 2**25


@dataclass
class ParityCase:
    description: str
    max_abs_error: float
    max_rel_error: float
    passed: bool


@dataclass
class OnnxExport:
    path: Path
    opset: int
    input_names: list[str]
    output_names: list[str]
    dynamic_axes: dict[str, dict[int, str]]
    seconds: float
    atol: float
    rtol: float
    # the graph's inputs and outputs as onnxruntime sees them: [{"name", "shape", "dtype"}]
    inputs: list[dict] = field(default_factory=list)
    outputs: list[dict] = field(default_factory=list)
    preprocessing: str = "none recorded"  # built into the graph | separate (in the metadata) | none recorded
    cases: list[ParityCase] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.cases) and all(case.passed for case in self.cases)

    @property
    def max_abs_error(self) -> float:
        return max(case.max_abs_error for case in self.cases)

    @property
    def max_rel_error(self) -> float:
        return max(case.max_rel_error for case in self.cases)

    def summary(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return (f"ONNX parity {verdict}: max abs error {self.max_abs_error:.2e}, max rel error "
                f"{self.max_rel_error:.2e} over {len(self.cases)} checks (atol {self.atol:g}, rtol {self.rtol:g})")

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(path=str(self.path), passed=self.passed, max_abs_error=self.max_abs_error,
                    max_rel_error=self.max_rel_error)
        return data


def export_onnx(doc: GraphDocument, path: str | Path, *, weights: str | Path | None = None,
                preprocessing: bool = True, softmax: bool = False, opset: int = DEFAULT_OPSET,
                atol: float = 1e-4, rtol: float = 1e-3, outputs: list[str] | None = None) -> OnnxExport:
    """Export `doc` (with `weights`, else fresh ones) to `path` and check it against torch.

    With weights from a run folder holding data.json, the graph takes raw data (`preprocessing`
    built in, unless False); `softmax` adds a `probabilities` output to a classifier. `outputs`
    keeps only those Output nodes and what feeds them (a GAN's generator alone: `["fake"]`, whose
    file then takes the noise only).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    weights = resolve_weights(weights) if weights is not None else None
    data = TrainedRun.beside(weights).data
    # a module per block instance, so ONNX nodes are named by the instance path (/enc/block3/fc1/Gemm)
    compiled, prep = deployable(doc, nested_module(doc, inference_graph(doc, weights, outputs)), data,
                                preprocessing=preprocessing, softmax=softmax)
    module = compiled.module
    samples = SampleMaker(doc, compiled)
    args = samples.make(EXPORT_BATCH)
    dynamic_axes = {name: {0: "batch"} for name in compiled.input_names}
    for name in samples.variable_length_inputs(module):
        dynamic_axes[name][1] = f"{name}_length"
    dynamic_axes.update({name: {0: "batch"} for name in compiled.output_names})

    started = time.perf_counter()
    _write(module, args, path, opset, compiled, dynamic_axes)
    seconds = time.perf_counter() - started
    entries = _finish(path, doc, data, prep)
    result = OnnxExport(path, opset, compiled.input_names, compiled.output_names, dynamic_axes, seconds, atol, rtol,
                        json.loads(entries["inputs"]), json.loads(entries["outputs"]),
                        _preprocessing_summary(prep))
    result.cases = _check_parity(module, path, samples, dynamic_axes, atol, rtol)
    return result


def _preprocessing_summary(prep: dict | None) -> str:
    if prep is None:
        return "none recorded"
    return "built into the graph" if prep["built_in"] else "separate: apply layerloom.preprocessing from the metadata"


def _write(module, args, path: Path, opset: int, compiled: CompiledGraph, dynamic_axes) -> None:
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the exporter's deprecation notice is not the user's business
            torch.onnx.export(module, args, str(path), dynamo=False, opset_version=opset,
                              input_names=compiled.input_names, output_names=compiled.output_names,
                              dynamic_axes=dynamic_axes, do_constant_folding=not shares_weights(module))
    except Exception as exc:  # noqa: BLE001 — the exporter raises many types; find the node to blame
        path.unlink(missing_ok=True)
        culprit = _find_unexportable_node(module, args, opset)
        raise ExportError(f"{culprit or 'the graph'} cannot be exported to ONNX opset {opset}: "
                          f"{_first_line(exc)}") from exc


def _finish(path: Path, doc: GraphDocument, data: dict | None, prep: dict | None) -> dict[str, str]:
    """Add the metadata, check the model with onnx.checker and save it; returns the metadata entries."""
    import onnx

    model = onnx.load(str(path))
    entries = add_metadata(model, doc, data, prep)
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:  # noqa: BLE001
        raise ExportError(f"{path}: the ONNX checker rejected the export: {_first_line(exc)}") from exc
    onnx.save(model, str(path))
    return entries


def _find_unexportable_node(module: torch.fx.GraphModule, args, opset: int) -> str | None:
    """Export each node's submodule alone, in graph order, and name the first that fails."""
    import io

    captured: dict[str, tuple] = {}

    def recorder(name: str):
        def record(_module, inputs, _output) -> None:  # returning None keeps the real output
            captured.setdefault(name, inputs)
        return record

    hooks = [sub.register_forward_hook(recorder(name)) for name, sub in module.named_children()]
    with torch.no_grad():
        module(*args)
    for hook in hooks:
        hook.remove()
    for name, inputs in captured.items():
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                torch.onnx.export(module.get_submodule(name), inputs, io.BytesIO(), dynamo=False,
                                  opset_version=opset)
        except Exception:  # noqa: BLE001
            return f"node {name} ({type(module.get_submodule(name)).__name__})"
    return None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


class SampleMaker:
    """Random inputs of the right shapes and dtypes — of the graph as exported, so raw pixels for a graph with
    preprocessing built in; token ids stay inside every Embedding's vocabulary."""

    def __init__(self, doc: GraphDocument, compiled: CompiledGraph):
        self.compiled = compiled
        self._check_size()
        self.vocab = {name: self._vocabulary(doc, name) for name in compiled.input_names}
        self.generator = torch.Generator().manual_seed(0)

    def _check_size(self) -> None:
        """Refuse, before allocating anything, inputs whose single sample is beyond `MAX_SAMPLE_VALUES`."""
        sizes = {name: math.prod(self.compiled.placeholder_specs[name][0][1:]) for name in self.compiled.input_names}
        if sum(sizes.values()) > MAX_SAMPLE_VALUES:
            name = max(sizes, key=sizes.get)
            shape = self.compiled.placeholder_specs[name][0]
            raise ExportError(f"{name} (Input): one sample of {format_shape(shape)} holds {sizes[name]:,} values; "
                              f"export checks the model on samples of at most {MAX_SAMPLE_VALUES:,} values in all "
                              f"— make {name}'s shape smaller")

    @staticmethod
    def _vocabulary(doc: GraphDocument, input_id: str) -> int:
        """The smallest vocabulary of the Embeddings the Input's ids reach, also through reshaping nodes."""
        fed: dict[str, list[str]] = {}
        for edge in doc.edges:
            fed.setdefault(edge.src, []).append(edge.dst)
        sizes, frontier, seen = [], [input_id], {input_id}
        while frontier:
            for node_id in fed.get(frontier.pop(), ()):
                if node_id in seen or (spec := get_spec(doc.nodes[node_id].type_id)) is None:
                    continue
                seen.add(node_id)
                if spec.param("num_embeddings"):
                    sizes.append(doc.nodes[node_id].params.get("num_embeddings", 2))
                elif spec.category in DTYPE_AGNOSTIC:
                    frontier.append(node_id)
        return min(sizes, default=2)

    def make(self, batch: int, lengths: dict[str, int] | None = None) -> tuple[torch.Tensor, ...]:
        args = []
        for name in self.compiled.input_names:
            shape, dtype = self.compiled.placeholder_specs[name]
            size = [batch, *shape[1:]]
            if lengths and name in lengths:
                size[1] = lengths[name]
            if dtype == "int64":
                args.append(torch.randint(0, self.vocab[name], size, generator=self.generator))
            elif dtype == "uint8":  # raw pixels, when preprocessing is built in
                args.append(torch.randint(0, 256, size, generator=self.generator, dtype=torch.uint8))
            else:
                args.append(torch.randn(size, generator=self.generator))
        return tuple(args)

    def other_length(self, name: str) -> int | None:
        """Another size for axis 1 (shorter, to stay within positional tables) when axis 1 can be a sequence
        length: token ids (N, T) or a sequence of feature vectors (N, T, F). Never for feature vectors
        (N, F) — a layer that broadcasts over its features (RMSNorm) would still run at another width, and
        the export would wrongly let it vary — nor for images (N, C, H, W), raw or not."""
        shape, dtype = self.compiled.placeholder_specs[name]
        if not ((dtype == "int64" and len(shape) == 2) or (dtype == "float32" and len(shape) == 3)):
            return None
        return shape[1] - 1 if shape[1] > 1 else 2

    def variable_length_inputs(self, module) -> list[str]:
        """Inputs whose axis 1 is a sequence length: the network still runs when it changes."""
        found = []
        for name in self.compiled.input_names:
            other = self.other_length(name)
            if other is None:
                continue
            try:
                with torch.no_grad():
                    module(*self.make(EXPORT_BATCH, {name: other}))
            except Exception:  # noqa: BLE001 — a shape error here just means the axis is fixed
                continue
            found.append(name)
        return found


def _check_parity(module, path: Path, samples: SampleMaker, dynamic_axes, atol: float, rtol: float
                  ) -> list[ParityCase]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    cases = []
    variants = [(f"batch {b}", b, None) for b in CHECK_BATCHES]
    for name, axes in dynamic_axes.items():
        if 1 in axes and name in samples.compiled.input_names:
            variants.append((f"batch 3, {name} length {samples.other_length(name)}", 3,
                             {name: samples.other_length(name)}))
    for description, batch, lengths in variants:
        args = samples.make(batch, lengths)
        with torch.no_grad():
            expected = module(*args)
        expected = expected if isinstance(expected, tuple) else (expected,)
        feeds = {name: arg.numpy() for name, arg in zip(samples.compiled.input_names, args, strict=True)}
        try:
            actual = session.run(samples.compiled.output_names, feeds)
        except Exception as exc:  # noqa: BLE001 — onnxruntime's own error types; the export is wrong
            raise ExportError(f"{path}: onnxruntime cannot run the export for {description} "
                              f"({_first_line(exc)}) — the file is not usable as written") from None
        abs_err, rel_err, ok = 0.0, 0.0, True
        for want, got in zip(expected, actual, strict=True):
            want = want.numpy()
            if got.shape != want.shape:
                raise ExportError(f"{path}: onnxruntime returned shape {got.shape} for {description}, "
                                  f"torch {want.shape}")
            diff, rel = _differences(got, want)
            abs_err = max(abs_err, float(diff.max(initial=0.0)))
            rel_err = max(rel_err, float(rel.max(initial=0.0)))
            ok = ok and bool(np.allclose(got, want, atol=atol, rtol=rtol, equal_nan=True))
        cases.append(ParityCase(description, abs_err, rel_err, ok))
    return cases


def _differences(got: np.ndarray, want: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Absolute and relative differences of onnxruntime's values from torch's. NaN against NaN, and an
    infinity against the same infinity, agree (a Sqrt of a negative value, an Exp that overflows, in
    both); NaN against a number differs infinitely."""
    got, want = got.astype(np.float64), want.astype(np.float64)
    agree = (np.isnan(got) & np.isnan(want)) | (np.isinf(want) & (got == want))
    with np.errstate(invalid="ignore"):
        diff = np.abs(got - want)
        rel = diff / np.maximum(np.abs(want), 1e-6)
    return (np.where(agree, 0.0, np.where(np.isnan(diff), np.inf, diff)),
            np.where(agree, 0.0, np.where(np.isnan(rel), np.inf, rel)))
