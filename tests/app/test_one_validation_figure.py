"""A short run of the Tabular MLP template, trained before the graph was ever saved (issue 23):

- the live confusion matrix and Results show one validation figure — the same percentage of the same number of
  samples (the whole split) when the best checkpoint is the last epoch's, and the Runs list gives it too;
- the run does not claim to be the template: its graph.json, folder, exported model and model card say
  "Untitled (from Tabular MLP)", not the template's name and its description of a tumour dataset.
"""

from __future__ import annotations

import json
import re

import onnx
import pytest

from app.templates import EXAMPLES
from app.training import install_training

WORKER_MS = 90_000  # a cold worker on a busy 2-core machine imports torch and sklearn slowly
LIVE = re.compile(r"([\d.]+%) of (\d+) validation samples right")
RESULTS = re.compile(r"Validation accuracy <b>([\d.]+%)</b> of (\d+) samples")
pytestmark = pytest.mark.slow


def test_an_unsaved_template_run_shows_one_figure_and_is_not_called_the_template(qtbot, window, tmp_path):
    training = getattr(window, "training", None) or install_training(window)
    assert window.files.new_from_template(EXAMPLES / "tabular_mlp.json")
    training.epochs_override = 2
    training.actions["train"].trigger()
    qtbot.waitUntil(lambda: training.record is not None and not training.running, timeout=WORKER_MS)
    record = training.record
    assert record.state == "finished", record.message
    assert record.weights_checkpoint == ("best", 2)  # the best epoch is the last: the same weights everywhere

    results = training.results
    qtbot.waitUntil(lambda: results.evaluation is not None or "failed" in results.summary.text(), timeout=WORKER_MS)
    training.live.redraw()
    heading = training.live.kind_panel.heading.text()
    live, scored = LIVE.search(heading), RESULTS.search(results.summary.text())
    assert live and scored, (heading, results.summary.text())
    assert live.groups() == scored.groups() and live.group(2) == "114"  # breast_cancer's whole validation split
    assert "epoch 2 ·" in heading and "(best checkpoint, epoch 2)" in results.summary.text()  # which weights
    assert "Results score" not in heading  # nothing to reconcile: the same checkpoint
    training.runs_panel.select(record.run_dir)
    assert f"best checkpoint (epoch 2): validation accuracy {live.group(1)} ·" in training.runs_panel.details.text()

    graph = json.loads((record.run_dir / "graph.json").read_text(encoding="utf-8"))
    assert (graph["name"], graph["description"]) == ("Untitled (from Tabular MLP)",
                                                     "Started from the template 'Tabular MLP'.")
    assert record.run_dir.name.startswith("Untitled-from-Tabular-MLP-")
    assert window.doc.name == "Tabular MLP"  # the document itself is named on its first save (files.py)

    training.export()
    dialog = training.export_dialog
    assert dialog.chosen()[0] == record.run_dir
    dialog.onnx_path.setText(str(tmp_path / "export" / "model.onnx"))
    dialog.export()
    qtbot.waitUntil(lambda: dialog.result is not None, timeout=WORKER_MS)
    assert dialog.result.get("passed") is True, dialog.result
    metadata = {p.key: p.value for p in onnx.load(str(tmp_path / "export" / "model.onnx")).metadata_props}
    assert metadata["layerloom.graph"] == "Untitled (from Tabular MLP)"  # what `predict --json` calls it
    card = json.loads(next((tmp_path / "export").glob("*.card.json")).read_text(encoding="utf-8"))
    assert card["model"] == "Untitled (from Tabular MLP)" and "tumour" not in card["description"]
    assert card["final_metrics"]["best"]["val_accuracy"] == pytest.approx(float(live.group(1)[:-1]) / 100, abs=5e-4)
    dialog.close()
