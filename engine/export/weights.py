"""Loading trained weights into a compiled graph: from a run folder or a `.safetensors` file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ..errors import WeightsError
from ..train.checkpoint_files import checkpoint_weights

if TYPE_CHECKING:
    from ..compile import CompiledGraph
    from ..document import GraphDocument


def resolve_weights(path: str | Path) -> Path:
    """A run folder means its best checkpoint (else its last); a file is taken as is."""
    path = Path(path)
    if path.is_dir():
        for tag in ("best", "last"):
            if weights := checkpoint_weights(path, tag):
                return weights
        raise WeightsError(f"{path}: no best.safetensors or last.safetensors — is this a training run folder?")
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    return path


def load_weights(module: torch.nn.Module, path: str | Path) -> Path:
    """Copy the weights in `path` into `module` (keys are node ids: `fc1.weight`).

    Tensors for nodes the module does not hold (a loss, a pruned branch) are ignored; a tensor the
    module needs but the file lacks, or one of the wrong shape, is an error naming it.
    """
    path = resolve_weights(path)
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise WeightsError(f"{path}: not a readable safetensors file ({exc})") from None
    own = module.state_dict()
    missing = [key for key in own if key not in state]
    if missing:
        raise WeightsError(f"{path}: no weights for {', '.join(missing[:5])} — were they trained on another graph?")
    for key, tensor in own.items():
        if state[key].shape != tensor.shape:
            raise WeightsError(f"{path}: {key} has shape {tuple(state[key].shape)}, the graph needs "
                               f"{tuple(tensor.shape)} — the graph changed since training")
    module.load_state_dict({key: state[key] for key in own})
    return path


def inference_graph(doc: GraphDocument, weights: str | Path | None = None,
                    outputs: list[str] | None = None) -> CompiledGraph:
    """`doc` compiled without its losses, in eval mode, holding `weights` when given (else fresh ones):
    the model every exporter writes out — only what feeds the Output nodes `outputs`, when given."""
    from ..compile import compile_graph

    compiled = compile_graph(doc, with_loss=False, outputs=outputs)
    if weights is not None:
        load_weights(compiled.module, weights)
    compiled.module.eval()
    return compiled
