"""A fresh run starting from weights the graph was given (`training.init_weights`): imported or
pretrained tensors, loaded by name before the first step.

Fine-tuning changes a graph after its weights were loaded — a new head for the user's classes —
so a tensor whose shape no longer fits is not an error: that parameter starts from its initialiser
and the run's log says so, as it does for parameters the file does not hold. A file that cannot be
read is an error naming it. Resuming a run ignores this: a checkpoint holds the run's own weights.

A path is read beside the graph file when relative, except one starting `layerloom:`, which names a
file shipped in Layerloom's resources folder (`layerloom:weights/digits_0to4_resnet.safetensors`): a
template opened from resources and saved anywhere, or never saved, still finds its pretrained weights.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import WeightsError

SHIPPED = "layerloom:"  # a path in Layerloom's own resources folder
RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def init_weights_path(value: str, base_dir: str | Path | None) -> Path:
    """`training.init_weights` as a path: relative ones are read beside the graph file, `layerloom:…` ones in
    the resources folder (refused when they lead out of it)."""
    if value.startswith(SHIPPED):
        path = (RESOURCES / value[len(SHIPPED):]).resolve()
        if not path.is_relative_to(RESOURCES):
            raise WeightsError(f"training.init_weights: {value} leads out of Layerloom's resources folder — "
                               f"{SHIPPED} names a file shipped in {RESOURCES}")
        return path
    path = Path(value).expanduser()
    return path if path.is_absolute() or base_dir is None else Path(base_dir) / path


def start_from(module: torch.nn.Module, value: str, base_dir: str | Path | None) -> list[str]:
    """Copy the tensors named in `value`'s file into `module`; the warnings for the run's log: tensors
    that no longer fit and parameters that start from their initialiser (the run's `started` event
    names the file, through its config)."""
    from ..export.weights import read_weights

    path = init_weights_path(value, base_dir)
    if not path.is_file():
        raise WeightsError(f"training.init_weights: {path} does not exist — load the weights again "
                           "(File → Load weights…) or clear the setting")
    state = read_weights(path)
    own = module.state_dict()
    fitting = {key: state[key] for key, tensor in own.items() if key in state and state[key].shape == tensor.shape}
    if not fitting:
        raise WeightsError(f"training.init_weights: nothing in {path} fits this graph (no tensor with a parameter's "
                           "name and shape) — were these weights loaded for another graph?")
    module.load_state_dict(fitting, strict=False)
    misfits = [f"{key} {list(state[key].shape)} → {list(tensor.shape)}" for key, tensor in own.items()
               if key in state and key not in fitting]
    fresh = [key for key in own if key not in state and not key.endswith("num_batches_tracked")]
    warnings = []
    if misfits:
        warnings.append(f"{path.name}: {len(misfits)} tensors no longer fit the graph and start from their "
                        f"initialiser: {_some(misfits)}")
    if fresh:
        warnings.append(f"{path.name} holds no weights for {len(fresh)} tensors, which start from their "
                        f"initialiser: {_some(fresh)}")
    return warnings


def _some(items: list[str], shown: int = 6) -> str:
    return ", ".join(items[:shown]) + ("…" if len(items) > shown else "")
