"""Loss nodes: compare a prediction with the Target and output one scalar to minimise (mean over the batch)."""

from __future__ import annotations

from .common import compatible, expect_rank, rank_hint
from .registry import register
from .spec import NodeSpec, Param, Port, ShapeError, format_shape, torch_function


def _loss(type_id: str, doc: str, infer, function, params=(), target: Port | None = None,
          example=((None, 4), (None, 4))) -> NodeSpec:
    """A loss is one function call in the compiled graph (`loss1 = cross_entropy(fc1, target1)`)."""
    return register(NodeSpec(
        type_id=type_id, title=type_id, category="Loss", id_prefix="loss", role="loss", doc=doc,
        inputs=(Port("pred"), target or Port("target")), outputs=(Port("loss", "()"),), params=params,
        infer=infer, build=None, function=function, example_inputs={"pred": example[0], "target": example[1]},
    ))


def _cross_entropy_infer(params, in_shapes):
    pred, target = in_shapes["pred"], in_shapes["target"]
    expect_rank("pred", pred, (2, 3), "class scores (N, C) or (N, T, C)", rank_hint(pred, 2))
    wanted = pred[:-1]
    if not compatible(target, wanted):
        raise ShapeError("target", f"expected class indices {format_shape(wanted)} to go with pred "
                                   f"{format_shape(pred)}, got {format_shape(target)} — one int64 class per "
                                   f"{'sample' if len(pred) == 2 else 'step'}; set the Target's shape to "
                                   f"{list(wanted[1:])}", stricter="same-shape")
    return {"loss": ()}


def _cross_entropy(params):
    from .layers.loss import cross_entropy

    return cross_entropy, {"label_smoothing": params["label_smoothing"]}


def _same_shape_infer(params, in_shapes):
    pred, target = in_shapes["pred"], in_shapes["target"]
    if not compatible(pred, target):
        raise ShapeError("target", f"expected the shape of pred {format_shape(pred)}, got {format_shape(target)} "
                                   f"— set the Target's shape to {list(pred[1:])} or Reshape the prediction",
                         stricter="same-shape")
    return {"loss": ()}


_loss("CrossEntropyLoss", "Classification: softmax over the last dim of pred against int64 class indices.",
      _cross_entropy_infer, _cross_entropy,
      (Param("label_smoothing", "float", 0.0, "share of the target spread over all classes", min=0.0, max=0.99),),
      Port("target", "(N,) or (N, T) int64", dtype="int64"), example=((None, 5), (None,)))
_loss("MSELoss", "Regression: mean squared difference between pred and target.", _same_shape_infer,
      torch_function("nn.functional.mse_loss"))
_loss("L1Loss", "Regression: mean absolute difference between pred and target (robust to outliers).",
      _same_shape_infer, torch_function("nn.functional.l1_loss"))
_loss("BCEWithLogitsLoss", "Binary / multi-label: sigmoid of pred (logits) against float targets in [0, 1].",
      _same_shape_infer, torch_function("nn.functional.binary_cross_entropy_with_logits"))
