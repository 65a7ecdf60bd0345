"""onnxscript rewrite rules run before mapping: GELU and Mish fusion, size picks the folder can fold, and
onnxscript's own clean-ups that leave every layer in place.

GELU: before opset 20 ONNX had no Gelu, so torch writes `0.5·x·(1 + erf(x/√2))` as Div, Erf, Add,
Mul, Mul, in either association; the tanh approximation (`approximate='tanh'`) as Pow, Mul, Add,
Mul, Tanh, Add, Mul, Mul (the cube as Pow or as two Muls). The rule set commutes every Add and Mul,
so operand order does not matter.

Matching costs time per node and rule, so only the rules that can match are run: those whose pattern
ends in an op the model has (`rules_for`). Every rule here matches at one node; onnxscript's
SlicesSplit, whose pattern has two output nodes, is left out: its matcher scans the whole graph for
every node it is tried on, which made import quadratic in the model's size (a 10,000-node chain took
two minutes). loading.py pairs Slices into a Split itself, in one pass.
"""

from __future__ import annotations

import math

import onnx_ir as ir
from onnxscript.rewriter import pattern
from onnxscript.rewriter.rules import common


def _erf(op, x):
    return op.Erf(x / math.sqrt(2))


def _tanh_of_cube(cube):
    def tanh(op, x):
        return op.Tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * cube(op, x)))

    return tanh


# 1 + erf(…) or 1 + tanh(…) times x and a half, in each association torch and others write.
_HALVES = (
    lambda op, x, t: 0.5 * (x * (t + 1.0)),
    lambda op, x, t: x * (0.5 * (t + 1.0)),
    lambda op, x, t: (x * 0.5) * (t + 1.0),
)
_CUBES = (lambda op, x: op.Pow(x, 3.0), lambda op, x: x * (x * x))  # commuted: (x·x)·x too


def _form(half, inner):
    return lambda op, x: half(op, x, inner(op, x))


def _gelu(op, x):
    return op.Gelu(x)


def _gelu_tanh(op, x):
    return op.Gelu(x, approximate="tanh")


GELU_RULES = pattern.RewriteRuleSet(
    [pattern.RewriteRule(_form(half, _erf), _gelu) for half in _HALVES]
    + [pattern.RewriteRule(_form(half, _tanh_of_cube(cube)), _gelu_tanh) for half in _HALVES for cube in _CUBES],
    commute=True,
)


def _mish_spelt_out(op, x):
    return x * op.Tanh(op.Softplus(x))


def _mish(op, x):
    return op.Mish(x)


# Before opset 18 ONNX had no Mish: torch's TorchScript exporter writes x·tanh(softplus(x)).
MISH_RULES = pattern.RewriteRuleSet([pattern.RewriteRule(_mish_spelt_out, _mish)], commute=True)
SPELT_OUT = {"Erf", "Tanh"}  # a model without these ops has no GELU or Mish to fuse


class _PickedSize(pattern.RewriteRuleClassBase):
    """`Gather(Shape(x), i)` with a scalar i — how torch reads one size — becomes
    `Squeeze(Shape(x, start=i, end=i+1))`, which onnxscript's folder turns into a constant whenever
    that one size is fixed (it folds only a whole shape, or a Gather of it by a list of indices).
    Sequence lengths are fixed on import, so a positional table sliced to the length folds too."""

    def pattern(self, op, shape, index):
        return op.Gather(shape, index, axis=0)

    def check(self, context, shape, index, **_):
        producer = shape.producer()
        value = index.const_value
        return (producer is not None and producer.op_type == "Shape" and producer.domain in ("", "ai.onnx")
                and value is not None and value.numpy().ndim == 0)

    def rewrite(self, op, shape, index, **_):
        producer = shape.producer()
        rank = producer.inputs[0].shape.rank() if producer.inputs[0].shape is not None else None
        start = producer.attributes.get_int("start", 0)
        position = int(index.const_value.numpy())
        if position < 0 and rank is not None:
            position += rank - (start % rank if start < 0 else start)
        begin = start + position
        return op.Squeeze(op.Shape(producer.inputs[0], start=begin, end=begin + 1), op.Constant(value_ints=[0]))


class _FlattenedLinear(pattern.RewriteRuleClassBase):
    """`Reshape(Gemm(Reshape(x, [-1, K]), W), (…, N))` — a Linear applied to (B, T, K) by folding the batch into the
    rows first, as Hugging Face's Conv1D (GPT-2) and `addmm` write it — becomes `MatMul(x, W)`: the same values,
    and no op that mixes the batch with the other axes. With a bias, `_FlattenedBiasedLinear`."""

    def pattern(self, op, x, flat, weight, out):
        return op.Reshape(op.Gemm(op.Reshape(x, flat, _allow_other_attributes=True), weight,
                                  _allow_other_attributes=True), out, _allow_other_attributes=True, _outputs=["y"])

    def check(self, context, x, flat, weight, out, y, bias=None, **_):
        gemm = y.producer().inputs[0].producer()
        attrs = gemm.attributes
        if any(attrs.get_int(name, 0) for name in ("transA", "transB")) or \
                any(attrs.get_float(name, 1.0) != 1.0 for name in ("alpha", "beta")):
            return False
        if flat.const_value is None or weight.const_value is None or x.shape is None or y.shape is None:
            return False
        if bias is not None and (bias.const_value is None or bias.const_value.numpy().ndim > 1 + any(
                d != 1 for d in bias.const_value.numpy().shape[:-1])):
            return False  # a bias per row of the folded rows would differ per sample
        before, target = list(x.shape), _dims(out)
        return (len(before) >= 3 and isinstance(before[-1], int) and target is not None
                and flat.const_value.numpy().reshape(-1).tolist() == [-1, before[-1]]
                and len(target) == len(before) and target[:-1] == before[:-1])

    def rewrite(self, op, x, weight, **_):
        return op.MatMul(x, weight)


def _dims(value) -> list | None:
    """The sizes a shape tensor holds, each an int or the symbolic size it reads (`Shape(x)[0]`: x's batch), where
    it is a constant, a Shape slice, or a Concat of these; None otherwise."""
    if value.const_value is not None:
        return value.const_value.numpy().reshape(-1).tolist()
    node = value.producer()
    if node is None or node.domain not in ("", "ai.onnx"):
        return None
    if node.op_type == "Shape" and node.inputs[0].shape is not None:
        dims = list(node.inputs[0].shape)
        start, end = node.attributes.get_int("start", 0), node.attributes.get_int("end", len(dims))
        return dims[start:end]
    if node.op_type == "Concat" and node.attributes.get_int("axis", 0) == 0:
        parts = [_dims(part) for part in node.inputs]
        return None if None in parts else [d for part in parts for d in part]
    return None


class _FlattenedBiasedLinear(_FlattenedLinear):
    def pattern(self, op, x, flat, weight, bias, out):
        return op.Reshape(op.Gemm(op.Reshape(x, flat, _allow_other_attributes=True), weight, bias,
                                  _allow_other_attributes=True), out, _allow_other_attributes=True, _outputs=["y"])

    def rewrite(self, op, x, weight, bias, **_):
        value = bias.const_value.numpy()
        flat = bias if value.ndim == 1 else op.Constant(value=ir.tensor(value.reshape(-1)))  # (1, N) → (N,)
        return op.Add(op.MatMul(x, weight), flat)


# onnxscript's rules that only remove no-ops and fold chains of reshapes; not its fusions (BatchNorm
# into Conv, Pad into Conv, Relu into Clip) nor dropping x + 0 (a zero bias stays a bias)
_TIDY = (common.mul_by_1_rule, common.div_by_1_rule, common.dropout_inference_rule, common.dropout_zero_rule,
         common.collapse_slice_rule, common.collapse_slice2_rule, common.materialize_reshape_shape_rule,
         common.cast_constant_of_shape_rule, common.cast_constant_of_shape_without_value_rule,
         common.cast_cast_rule, common.no_op_cast_rule, common.no_op_expand_rule, common.no_op_transpose_rule,
         common.reshape_reshape_rule, common.squeeze_reshape_1d_rule,
         common.transpose_transpose_rule, common.unsqueeze_unsqueeze_rule)


_RULES = (_PickedSize.rule(), _FlattenedLinear.rule(), _FlattenedBiasedLinear.rule(), *_TIDY)
SUBGRAPH_OPS = {"If", "Loop", "Scan"}  # ops whose subgraphs the rewriter visits too: their ops are not listed


def rules_for(ops: set[str]) -> pattern.RewriteRuleSet | None:
    """The rules that can match in a graph made of `ops` (the GELU forms only where an Erf or a Tanh
    is, Mish's where a Tanh is), None when none can."""
    candidates = [*_RULES, *(GELU_RULES.rules if ops & SPELT_OUT else ()), *(MISH_RULES.rules if "Tanh" in ops else ())]
    if not ops & SUBGRAPH_OPS:
        candidates = [rule for rule in candidates if _anchor(rule) in (None, *ops)]
    return pattern.RewriteRuleSet(candidates) if candidates else None


def _anchor(rule) -> str | None:
    """The op type of the node a rule's pattern ends in — it is tried at every node but can match only
    there — or None when that cannot be read (the rule is then always run)."""
    try:
        (node,) = rule._target_pattern.output_nodes
        return node.op_identifier()[1]
    except (AttributeError, TypeError, ValueError, IndexError):
        return None
