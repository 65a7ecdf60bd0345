"""Training: the loops (supervised, unsupervised, GAN), their event stream, optimizers, schedules,
checkpoints and data parallelism.

    from engine.train import train
    result = train(doc, "runs/digits", on_event=print)   # RunResult; events.jsonl in the run folder

Importing this package does not import torch (the GUI reads `engine.train.events` without paying
for it); `train` and `RunResult` load the loop on first use.
"""

from __future__ import annotations

from .events import read_events

__all__ = ["RunResult", "read_events", "train"]


def __getattr__(name: str):
    if name in ("train", "RunResult"):
        from . import loop

        return getattr(loop, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
