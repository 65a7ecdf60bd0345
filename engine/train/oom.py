"""What to tell a user whose run ran out of GPU memory: the batch size that would fit, not a traceback.

The memory estimate (engine/stats.py: weights, gradients and Adam moments, plus every activation
kept for backward) is `fixed + per_sample × batch`. It is a lower bound — extra intermediates, the
allocator's slack and cuDNN workspaces come on top, and they grow with the batch — so the failure at
batch B calibrates the part that grows: activations cost at least `(memory − fixed) / (per_sample × B)`
times their estimate. The advice is the largest power of two whose calibrated cost fits in 90 % of
the GPU, and at most half of B: always smaller than what failed, never bigger than halving.
"""

from __future__ import annotations

from ..config import TrainingConfig
from ..document import GraphDocument
from ..errors import LayerloomError
from ..stats import TRAINING_BYTES_PER_PARAM, format_bytes, graph_stats
from ..validate import validate

HEADROOM = 0.9  # of the GPU's memory the advice may plan to fill


def fitting_batch_size(fixed: int, per_sample: int, failed: int, memory: int) -> int | None:
    """The advised batch size after `failed` ran out of `memory` bytes (None: not even one sample fits)."""
    budget = HEADROOM * memory - fixed
    if failed <= 1 or budget < per_sample:
        return None
    calibration = max(1.0, (memory - fixed) / max(per_sample * failed, 1))
    fits = min(int(budget // max(per_sample * calibration, 1)), failed // 2)
    if fits < 1:
        return None
    return 1 << (fits.bit_length() - 1)


def gpu_advice(doc: GraphDocument) -> str:
    """The failed status message of a run of `doc` that ran out of memory on the current GPU."""
    return advice(doc, TrainingConfig.from_dict(doc.training).batch_size, *gpu_memory())


def gpu_memory() -> tuple[int | None, str]:
    """(bytes, name) of the GPU this process trains on; (None, "") without one."""
    import torch

    if not torch.cuda.is_available():
        return None, ""
    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    return props.total_memory, props.name


def advice(doc: GraphDocument, batch_size: int, memory: int | None, device_name: str) -> str:
    """What to say after `doc` ran out of memory at `batch_size` on a GPU of `memory` bytes (None: unknown)."""
    where = f"out of GPU memory at batch_size {batch_size}" + (f" on {device_name}" if device_name else "")
    if memory is not None:
        where += f" ({format_bytes(memory)})"
    try:
        report = validate(doc)
        stats = graph_stats(doc, report, batch_size)
        fixed = TRAINING_BYTES_PER_PARAM * stats.total_params
        per_sample = -(-stats.total_activation_bytes // batch_size)
    except LayerloomError:
        fixed = per_sample = None
    if memory is None or fixed is None:
        fits = batch_size // 2 or None
        why = ""
    else:
        fits = fitting_batch_size(fixed, per_sample, batch_size, memory)
        why = (f" (by Layerloom's estimate: {format_bytes(fixed)} for weights, gradients and optimizer state, "
               f"{format_bytes(per_sample)} of activations per sample)")
    if fits is None:
        return (f"{where} — even a batch of 1 does not fit{why}: make the model smaller, or train it on several "
                f"GPUs with strategy fsdp, which shards its weights")
    return (f"{where} — batch_size {fits} would fit{why}: set training.batch_size to {fits}, or use precision "
            f"bf16, which halves the activations")
