"""An imported model (ONNX or PyTorch) opened as a new, unsaved graph: its weights written beside the
model file, and the graph told to start training from them (`training.init_weights`, absolute, so
it holds wherever the graph is saved later)."""

from __future__ import annotations

import json
from pathlib import Path

from engine.onnx_import import ImportedGraph


def adopt_imported(window, imported: ImportedGraph, weights: Path, source: str) -> bool:
    """Write `imported`'s weights to `weights` (and its data record), open its graph in `window` (asking
    to save the current one first); False when the user kept the current graph."""
    from engine.export.run_record import data_record_path
    from engine.train.checkpoint_files import save_arrays

    weights = weights.resolve()
    record = data_record_path(weights)  # how raw data becomes its input: an export builds it in again
    try:
        weights.parent.mkdir(parents=True, exist_ok=True)
        save_arrays(imported.weights, weights)
        if imported.data is not None:
            record.write_text(json.dumps(imported.data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        else:
            record.unlink(missing_ok=True)  # an earlier import's record would stand for this model's
        imported.document.set_training("init_weights", str(weights))  # training starts from these weights
        note = f"its weights are in {weights}, and training starts from them"
    except OSError as exc:
        note = f"its weights could not be written ({exc.strerror or exc}), so training would start afresh"
    if not window.files.adopt_unsaved(imported.document):
        return False
    window.statusBar().showMessage(f"Imported {source} ({len(imported.document.nodes)} nodes); {note}", 20_000)
    return True
