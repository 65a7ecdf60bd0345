"""Loading trained weights into a compiled graph: from a run folder or a `.safetensors` file; writing them.

A weights file carries a SHA-256 of its tensor data in its metadata (`sha256`, as checkpoints do:
engine/train/checkpoint_files.py), checked before the weights are used, so a file damaged on disk is
refused with its name rather than exported or run; files without one (written by other tools, or by
Layerloom before the digest existed) load as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors import SafetensorError
from safetensors.torch import save as save_bytes

from ..atomic import atomic_write_bytes
from ..errors import CheckpointError, WeightsError
from ..train.checkpoint import digest, tensors_of
from ..train.checkpoint_files import DIGEST, checkpoint_weights, read_verified

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
    state = read_weights(path)
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


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of the safetensors file `path`, once their data matches the file's digest (when it has one)."""
    try:
        data, _ = read_verified(Path(path))
        return tensors_of(data)
    except CheckpointError as exc:
        raise WeightsError(str(exc)) from None
    except (SafetensorError, OSError) as exc:
        raise WeightsError(f"{path}: not a readable safetensors file ({exc})") from None


def save_weights(state: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """Write `state` to the safetensors file `path` atomically (engine/atomic.py: the permissions of the file
    it replaces, nothing left behind), with the digest `load_weights` checks."""
    state = {key: tensor.detach().to("cpu").contiguous() for key, tensor in state.items()}
    atomic_write_bytes(Path(path), save_bytes(state, metadata={**(metadata or {}), DIGEST: digest(state)}))


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
