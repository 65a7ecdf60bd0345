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
    + [pattern.RewriteRule(_form(_HALVES[0], _tanh_of_cube(cube)), _gelu_tanh) for cube in _CUBES],
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


# onnxscript's rules that only remove no-ops and fold chains of reshapes; not its fusions (BatchNorm
# into Conv, Pad into Conv, Relu into Clip) nor dropping x + 0 (a zero bias stays a bias)
_TIDY = (common.mul_by_1_rule, common.div_by_1_rule, common.dropout_inference_rule, common.dropout_zero_rule,
         common.collapse_slice_rule, common.collapse_slice2_rule, common.materialize_reshape_shape_rule,
         common.cast_constant_of_shape_rule, common.cast_constant_of_shape_without_value_rule,
         common.cast_cast_rule, common.no_op_cast_rule, common.no_op_expand_rule, common.no_op_transpose_rule,
         common.reshape_reshape_rule, common.squeeze_reshape_1d_rule,
         common.transpose_transpose_rule, common.unsqueeze_unsqueeze_rule)


_RULES = (_PickedSize.rule(), *_TIDY)
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
