"""Training ▸ Find learning rate…, Sweep… and Compare runs…: the app's face of engine/experiments.

The range test and sweeps run as `layerloom` commands in processes of their own (process.py), so torch
and Optuna never load in the GUI; the views read what those write (JSON lines, the sweep's trials.json,
run folders). `install_experiments(controller)` adds the menu entries.
"""

from .actions import install_experiments

__all__ = ["install_experiments"]
