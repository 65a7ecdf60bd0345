"""Helpers for the node catalogue tests: build a spec's module, feed it random data, compare shapes."""

from __future__ import annotations

import torch
from hypothesis import strategies as st

import nodes
from nodes.common import apply_init

BATCH = 3


def buildable_specs() -> list[nodes.NodeSpec]:
    """Every registered spec that has a torch module (Input/Target/Output have none)."""
    return [spec for spec in nodes.all_specs() if spec.build is not None]


def sample_inputs(spec, params, in_shapes, batch: int = BATCH) -> tuple:
    """Random tensors for the connected inputs, in port order: valid ids for int64 ports."""
    tensors = []
    for port in spec.inputs:
        if port.name not in in_shapes:
            continue
        size = [batch if dim is None else dim for dim in in_shapes[port.name]]
        if port.dtype == "int64":  # token ids below the vocabulary, or class indices below C
            high = params.get("num_embeddings") or in_shapes["pred"][-1]
            tensors.append(torch.randint(0, high, size))
        elif spec.role == "loss" and port.name == "target":
            tensors.append(torch.rand(size))  # in [0, 1): valid for BCE too
        else:
            tensors.append(torch.randn(size))
    return tuple(tensors)


def build(spec, params, in_shapes):
    """The module with resolved params and its init scheme applied, as the compiler does."""
    module = spec.build(params, in_shapes)
    apply_init(module, params.get("init", "default"))
    return module


def outputs_by_port(spec, result) -> dict[str, torch.Tensor]:
    values = result if isinstance(result, tuple) else (result,)
    assert len(values) == len(spec.outputs), f"{spec.type_id} returned {len(values)} values"
    return {port.name: value for port, value in zip(spec.outputs, values, strict=True)}


def assert_shapes_match(inferred: dict, actual: dict[str, torch.Tensor], batch: int = BATCH) -> None:
    """`infer`'s shapes equal the real ones, with None standing for the batch."""
    assert set(inferred) == set(actual)
    for port, shape in inferred.items():
        expected = tuple(batch if dim is None else dim for dim in shape)
        assert tuple(actual[port].shape) == expected, f"port {port}: infer {shape}, torch {tuple(actual[port].shape)}"


def batches(params, in_shapes, batch: int = BATCH) -> tuple[int, int]:
    """(samples fed, samples out): a Reshape splitting the batch by A is fed A·batch samples and gives batch;
    one merging (N, A, …) gives N·A. Every other node keeps the batch."""
    mode = params.get("batch") if "batch_split" in params else None
    if mode == "split":
        return batch * params["batch_split"], batch
    if mode == "merge":
        return batch, batch * in_shapes["in"][1]
    return batch, batch


def check_against_torch(spec, params, in_shapes, train: bool = True):
    """Run the real module and assert `infer` predicted its output shapes; returns (module, outputs)."""
    params = spec.resolve(params)
    inferred = spec.infer(params, in_shapes)
    module = build(spec, params, in_shapes).train(train)
    fed, out = batches(params, in_shapes)
    actual = outputs_by_port(spec, module(*sample_inputs(spec, params, in_shapes, batch=fed)))
    assert_shapes_match(inferred, actual, batch=out)
    return module, actual


def param_values(param, span: int):
    """A hypothesis strategy for valid values of `param`; numbers kept within ±`span` where the range allows."""
    if param.kind == "bool":
        return st.booleans()
    if param.kind == "choice":
        return st.sampled_from(param.choices)
    if param.kind == "str":  # free text names something outside the node (a tie's node id): its default alone
        return st.just(param.default)
    if param.kind == "float":
        return st.floats(param.min if param.min is not None else -10, param.max if param.max is not None else 10)
    lo = max(param.min if param.min is not None else -span, -span)
    ints = st.integers(lo, max(lo, min(param.max if param.max is not None else span, span)))
    return ints if param.kind == "int" else st.lists(ints, max_size=4).map(tuple)
