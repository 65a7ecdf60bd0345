"""Training from the app: a warm worker process, run control, live plots, results and export.

The GUI process never imports torch; engine/train/worker.py trains and the app reads its event
stream. `install_training(window)` wires it all into the main window.
"""

from .controller import TrainingController, install_training

__all__ = ["TrainingController", "install_training"]
