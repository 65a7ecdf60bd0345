"""Training from the app: a warm worker process, run control, live plots, results and export.

The GUI process never imports torch; engine/train/worker.py trains and the app reads its event
stream. `install_training(window)` wires it all into the main window.
"""

__all__ = ["TrainingController", "install_training"]


def __getattr__(name: str):
    """Loaded on first use: the controller brings pyqtgraph, which the window's first paint does not need."""
    if name in __all__:
        from . import controller

        return getattr(controller, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
