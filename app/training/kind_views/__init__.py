"""The app's registry of task kinds: kind name (engine/tasks KINDS) → what the live view shows for it.

    plain            losses only (base.KindView)
    classification   accuracy curves; the confusion matrix, whose cells list their samples
    regression       MAE / RMSE; predicted against true
    reconstruction   reconstruction error; inputs beside reconstructions, the bottleneck's PCA
    adversarial      generator / discriminator losses, D(real) / D(fake); the sample grid and its strip
    language_model   perplexity; each epoch's text, and a prompt box that writes more

A run's kind is its started event's `task_kind`; a run recorded before that field existed is
recognised from what its events hold (`kind_of`). This package is the only place the GUI tells kinds
apart: everything else asks the view it gets from `view_for`.
"""

from __future__ import annotations

from ..runs import RunRecord
from .adversarial import AdversarialView
from .base import KindPanel, KindView, epoch_series
from .classification import ClassificationView
from .language import LanguageView
from .reconstruction import ReconstructionView
from .regression import RegressionView

VIEWS: dict[str, type[KindView]] = {view.name: view for view in (
    KindView, ClassificationView, RegressionView, ReconstructionView, AdversarialView, LanguageView)}

# What only one kind leaves in its events: (metric key or artifact tag, kind), checked in order
_SIGNS = (("d_real", "adversarial"), ("samples", "adversarial"), ("perplexity", "language_model"),
          ("generated", "language_model"), ("reconstruction_error", "reconstruction"),
          ("reconstructions", "reconstruction"), ("mae", "regression"), ("predicted_vs_true", "regression"),
          ("confusion", "classification"))

__all__ = ["VIEWS", "KindPanel", "KindView", "epoch_series", "kind_of", "view_for"]


def kind_of(record: RunRecord | None) -> str:
    """The run's kind: as its started event says, else as its epochs and artifacts show."""
    if record is None:
        return KindView.name
    if record.task_kind:
        return record.task_kind
    seen = {tag for event in record.artifacts if (tag := event.get("tag"))}
    for event in record.epochs:
        seen |= set(event.get("metrics") or {})
        if event.get("losses"):
            seen.add("d_real")  # an epoch with named losses is a GAN's
        if event.get("val_accuracy") is not None:
            seen.add("confusion")
    return next((kind for sign, kind in _SIGNS if sign in seen), KindView.name)


def view_for(record: RunRecord | None) -> KindView:
    """The view of the run's kind (a kind this version does not know shows its losses only)."""
    return VIEWS.get(kind_of(record), KindView)()
