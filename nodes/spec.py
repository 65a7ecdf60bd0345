"""The declaration of a node type: ports, typed params, shape rule and torch builder.

One frozen `NodeSpec` per node type is the single source every consumer reads: the palette
(category, title, doc), the inspector (params), validation (ports, param ranges), shape
inference (`infer`), the compiler (`build`) and the exporters. Nothing here imports torch at
module level, so the GUI can list node types without paying for torch; `build` functions import
it when called.

Shapes are tuples of ints with `None` for a dimension that is unknown until run time (the batch).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Shape = tuple[int | None, ...]
Params = Mapping[str, Any]
InferFn = Callable[[Params, Mapping[str, Shape]], dict[str, Shape]]
BuildFn = Callable[[Params, Mapping[str, Shape]], Any]
FunctionFn = Callable[[Params], tuple[Callable, dict[str, Any]]]
# (params, input shapes, output shapes) → multiply-adds; every shape concrete, the batch included.
# (params, input shapes, input element types) → (output shapes, output element types)
TypedInferFn = Callable[[Params, Mapping[str, Shape], Mapping[str, str]], tuple[dict[str, Shape], dict[str, str]]]
MacsFn = Callable[[Params, Mapping[str, tuple[int, ...]], Mapping[str, tuple[int, ...]]], int]

PARAM_KINDS = ("int", "float", "bool", "choice", "ints", "str")
ROLES = ("layer", "input", "target", "output", "loss")


# Why a node may refuse inputs that torch itself would run. Every such refusal names one of these in
# `ShapeError.stricter`; the property test tests/nodes/test_validate_matches_torch.py accepts a refusal of
# something torch runs only when it does, so the list below is the whole of where Layerloom is stricter.
STRICTER_THAN_TORCH = {
    "layout": "the batch comes first on every wire: torch's unbatched forms (a Conv2d on (C, H, W)), a layer "
              "silently applied over extra leading dims and element-wise inputs of different ranks (which torch "
              "lines up from the right, the batch against another dim) are not taken — the graph says where it "
              "reshapes",
    "batch": "a per-sample operation never reduces, normalises or pads over the batch dimension",
    "same-shape": "a loss's target and an attention mask must have exactly the shape that goes with the prediction "
                  "or the keys; torch silently broadcasts or flattens others (a (N, 1) target against a (N, 4) "
                  "prediction), which hides wiring mistakes",
    "degenerate": "the node would do nothing, or output a constant whatever its input",
    "onnx": "onnxruntime refuses it, so the trained model could not be exported",
}


class ShapeError(ValueError):
    """An input shape a node cannot accept; `port` names the input port at fault.

    `stricter` names the rule of STRICTER_THAN_TORCH behind a refusal of something torch itself would run
    (empty when torch refuses it too)."""

    def __init__(self, port: str, message: str, stricter: str = ""):
        super().__init__(message)
        if stricter and stricter not in STRICTER_THAN_TORCH:
            raise ValueError(f"unknown rule {stricter!r}")
        self.port = port
        self.message = message
        self.stricter = stricter


def format_shape(shape: Shape) -> str:
    """`(None, 1, 28, 28)` → `"(N, 1, 28, 28)"`; later unknown dims print as `?`."""
    dims = ["N" if dim is None and i == 0 else "?" if dim is None else str(dim) for i, dim in enumerate(shape)]
    return "(" + ", ".join(dims) + ")"


@dataclass(frozen=True)
class Param:
    """One user-editable parameter. `kind` is semantic (never a widget type)."""

    name: str
    kind: str
    default: Any
    doc: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in PARAM_KINDS:
            raise ValueError(f"param {self.name}: unknown kind {self.kind!r}")
        if self.kind == "choice" and self.default not in self.choices:
            raise ValueError(f"param {self.name}: default {self.default!r} not among choices")

    def problem(self, value: Any) -> str | None:
        """Why `value` is not acceptable for this param, or None when it is."""
        if self.kind == "bool":
            return None if isinstance(value, bool) else f"expected true or false, got {value!r}"
        if self.kind == "choice":
            return None if value in self.choices else f"expected one of {', '.join(self.choices)}, got {value!r}"
        if self.kind == "str":
            return None if isinstance(value, str) else f"expected text, got {value!r}"
        if self.kind == "ints":
            if not isinstance(value, (list, tuple)) or not all(_is_int(v) for v in value):
                return f"expected a list of integers, got {value!r}"
            return next((msg for v in value if (msg := self._range_problem(v))), None)
        if self.kind == "int" and not _is_int(value):
            return f"expected an integer, got {value!r}"
        if self.kind == "float" and (isinstance(value, bool) or not isinstance(value, (int, float))
                                     or not math.isfinite(value)):
            return f"expected a finite number, got {value!r}"
        return self._range_problem(value)

    def _range_problem(self, value: float) -> str | None:
        if self.min is not None and value < self.min:
            return f"must be ≥ {_num(self.min)}, got {value}"
        if self.max is not None and value > self.max:
            return f"must be ≤ {_num(self.max)}, got {value}"
        return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


@dataclass(frozen=True)
class Port:
    """A named input or output. `layout` documents the expected tensor layout, e.g. `(N, C, H, W)`.

    `dtype` is the element type the port expects: "int64" for token ids and class indices, so
    the engine can make sample inputs and warn when a float wire feeds an index port; "any" for a port
    that reads only the wire's size (a Parameter's batch).
    """

    name: str
    layout: str = ""
    optional: bool = False
    dtype: str = "float32"


@dataclass(frozen=True)
class NodeSpec:
    """Everything Layerloom knows about one node type.

    `infer(params, in_shapes)` receives the shapes of the connected input ports and returns the
    shape of every output port, raising `ShapeError` on a mismatch. `build(params, in_shapes)`
    returns a `torch.nn.Module` whose `forward` takes the connected inputs positionally in port
    order and returns a tensor (one output port) or a tuple in output-port order.

    A node without weights may instead declare `function(params) -> (torch function, kwargs)`: the
    compiler then calls that function directly (`relu1 = torch.relu(fc1)`), sparing the module call
    on every step, and `build` is derived from it (a module wrapping the same call).

    `macs(params, in_shapes, out_shapes)` gives the multiply-adds of one forward pass in closed form,
    counted as torch's FlopCounterMode counts them: matrix products, convolutions and attention;
    element-wise, normalising, pooling and lookup work counts as none, which is what `None` declares.
    Stats stay O(graph size) this way — running a layer to count grows with the sequence length.

    `typed_infer(params, in_shapes, in_dtypes)` is declared by a node whose output element types (and
    whether it runs at all) depend on its inputs' — the generic Op (`lt` gives bool): validation calls it
    instead of `infer` and the output ports' declared dtypes.

    `batch_statistics` marks a layer that normalises each channel over the batch while training
    (BatchNorm): torch refuses a training batch that gives a channel a single value.
    """

    type_id: str
    title: str
    category: str
    doc: str
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]
    params: tuple[Param, ...]
    infer: InferFn
    build: BuildFn | None
    id_prefix: str
    role: str = "layer"
    legacy_ids: tuple[str, ...] = field(default_factory=tuple)
    # Input shapes this node accepts with default params: used by the catalogue tests and docs.
    example_inputs: Mapping[str, Shape] = field(default_factory=dict)
    function: FunctionFn | None = None
    macs: MacsFn | None = None
    batch_statistics: bool = False
    typed_infer: TypedInferFn | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"{self.type_id}: unknown role {self.role!r}")
        if self.function is not None:
            if self.build is not None:
                raise ValueError(f"{self.type_id}: declare either build or function, not both")
            object.__setattr__(self, "build", _function_module(self.function, binary=len(self.inputs) == 2))
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.type_id}: duplicate param names")

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def resolve(self, params: Params) -> dict[str, Any]:
        """Defaults overlaid with the given values; list values become tuples."""
        merged = self.defaults() | dict(params)
        return {k: tuple(v) if isinstance(v, list) else v for k, v in merged.items()}

    def input_port(self, name: str) -> Port | None:
        return next((p for p in self.inputs if p.name == name), None)

    def output_port(self, name: str) -> Port | None:
        return next((p for p in self.outputs if p.name == name), None)

    @property
    def has_weights_init(self) -> bool:
        return self.param("init") is not None


def _function_module(function: FunctionFn, binary: bool) -> BuildFn:
    """The `build` of a node declared by its torch function: a module making the same call."""

    def build(params, in_shapes):
        from .layers.plumbing import BinaryFunction, Function

        return (BinaryFunction if binary else Function)(*function(params))

    return build


def torch_function(path: str, *param_names: str) -> FunctionFn:
    """`function` for a node that is one torch call: `torch_function("nn.functional.gelu")`, or
    `torch_function("flatten", "start_dim")` to pass params on as keyword arguments."""

    def function(params):
        import torch

        return operator.attrgetter(path)(torch), {name: params[name] for name in param_names}

    return function
