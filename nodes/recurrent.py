"""Recurrent layers (RNN, LSTM, GRU) on batch-first sequences (N, T, features).

Layerloom keeps the batch first everywhere, so there is no batch_first switch: modules are always
built with batch_first=True. "output" picks what flows on: the last step (N, H·dirs) for a
classifier, or every step (N, T, H·dirs) to stack another sequence layer.
"""

from __future__ import annotations

from .common import BIAS_PARAM, INIT_PARAM, dropout_param, expect_rank, rank_hint
from .registry import register
from .spec import NodeSpec, Param, Port

_PARAMS = (
    Param("hidden_size", "int", 64, "features of the hidden state per direction", min=1, max=65536),
    Param("num_layers", "int", 1, "recurrent layers stacked on each other", min=1, max=16),
    Param("bidirectional", "bool", False, "also read the sequence backwards; doubles the output features"),
    dropout_param(doc="dropout between stacked layers (used only when num_layers > 1)"),
    Param("output", "choice", "last", "last: the final step (N, H·dirs); all: every step (N, T, H·dirs); for "
          "bidirectional, last is both directions' outputs at the final step", choices=("last", "all")),
    BIAS_PARAM,
    INIT_PARAM,
)


def _recurrent_infer(params, in_shapes):
    x = in_shapes["in"]
    expect_rank("in", x, (3,), "(N, T, features)", rank_hint(x, 3))
    features = params["hidden_size"] * (2 if params["bidirectional"] else 1)
    return {"out": (x[0], features) if params["output"] == "last" else (x[0], x[1], features)}


def _recurrent(type_id: str, doc: str, gates: int, extra: tuple[Param, ...] = ()) -> NodeSpec:
    """A recurrent node with `gates` weight blocks per step; `extra` params go to the torch constructor under
    their own names."""

    def build(params, in_shapes):
        import torch.nn as nn

        from .layers.sequence import RecurrentOutput

        layers = params["num_layers"]
        options = {p.name: params[p.name] for p in extra}
        rnn = getattr(nn, type_id)(
            in_shapes["in"][2], params["hidden_size"], num_layers=layers, bias=params["bias"], batch_first=True,
            dropout=params["dropout"] if layers > 1 else 0.0,  # torch warns about dropout on a single layer
            bidirectional=params["bidirectional"], **options,
        )
        return RecurrentOutput(rnn, last=params["output"] == "last")

    def macs(params, in_shapes, out_shapes):
        n, steps, features = in_shapes["in"]
        hidden, dirs = params["hidden_size"], 2 if params["bidirectional"] else 1
        widths = [features] + [hidden * dirs] * (params["num_layers"] - 1)  # each layer's input features
        # per step, layer and direction: gates·H outputs from the input (width) and the hidden state (H)
        return n * steps * gates * hidden * dirs * sum(width + hidden for width in widths)

    return register(NodeSpec(
        type_id=type_id, title=type_id, category="Recurrent", id_prefix=type_id.lower(), doc=doc,
        inputs=(Port("in", "(N, T, features)"),), outputs=(Port("out"),), params=_PARAMS + extra,
        infer=_recurrent_infer, build=build, macs=macs, example_inputs={"in": (None, 5, 4)},
    ))


_recurrent("RNN", "A plain (Elman) recurrent layer: h = act(W·x + U·h) at every step.", 1,
           (Param("nonlinearity", "choice", "tanh", "activation of the hidden state", choices=("tanh", "relu")),))
_recurrent("LSTM", "Long short-term memory: gated recurrence that keeps information over long sequences.", 4)
_recurrent("GRU", "Gated recurrent unit: a lighter LSTM with two gates.", 3)
