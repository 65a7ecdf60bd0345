"""The registry of task kinds: which kind a run is, decided once from its data and graph.

    classification  a classification dataset and an Output of one score per class (`Setup.classification`)
    language_model  ... and a text dataset (a vocabulary) whose targets are the inputs shifted by one
    regression      a regression dataset, with a Target
    reconstruction  no Target: the graph rebuilds its Input (an autoencoder)
    adversarial     training.mode gan (a GanSetup: generator and discriminator)
    plain           anything else: losses only (base.TaskKind)

See base.py for what a kind does and report.py for when it runs.
"""

from __future__ import annotations

from .adversarial import Adversarial
from .base import TaskKind
from .classification import Classification
from .language import LanguageModel
from .reconstruction import Reconstruction
from .regression import Regression
from .report import TaskReport

KINDS: dict[str, type[TaskKind]] = {kind.name: kind for kind in (
    TaskKind, Classification, Regression, Reconstruction, Adversarial, LanguageModel)}

__all__ = ["KINDS", "TaskKind", "TaskReport", "kind_for"]


def kind_for(setup) -> TaskKind:
    """The kind of the run prepared in `setup` (a train.setup.Setup, or a train.gan.GanSetup)."""
    if hasattr(setup, "generator"):
        return Adversarial()
    data = setup.data
    if setup.classification:
        shifted = data.vocab is not None and data.target_shape == data.input_shape
        return LanguageModel() if shifted else Classification()
    if not setup.compiled.output_names:
        return TaskKind()  # nothing marks the prediction: the run trains its losses only (validation says so)
    if not setup.compiled.target_names:
        return Reconstruction()
    return Regression() if data.task == "regression" else TaskKind()
