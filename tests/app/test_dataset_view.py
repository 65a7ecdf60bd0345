"""The Dataset tab, used as a user would (real worker): split sizes, samples per class, a batch before and after
augmentation and reshuffled, value ranges per channel, an imbalance warned, a text's tokens."""

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget

from app.templates import EXAMPLES

WORKER_MS = 90_000
pytestmark = pytest.mark.slow


def shown_summary(qtbot, view, before=None) -> dict:
    """The next summary the tab shows (after `before`)."""
    qtbot.waitUntil(lambda: view.summary is not None and view.summary is not before, timeout=WORKER_MS)
    return view.summary


def batch_values(view) -> np.ndarray:
    return np.array([s["x"] for s in view.summary["batch"]["samples"]])


def test_the_dataset_tab_shows_the_data_as_the_model_receives_it(qtbot, window, tmp_path):
    assert window.files.new_from_template(EXAMPLES / "digits_cnn.json")  # digits, augmented with noise 0.05
    view = window.dataset_view
    dock = window.findChild(QDockWidget, "Dataset")
    dock.raise_()
    summary = shown_summary(qtbot, view)
    assert "1,437 training / 360 validation samples" in view.heading.text() and "(N, 1, 8, 8)" in view.heading.text()
    bars = [item for item in view.histogram.getPlotItem().items if hasattr(item, "opts")]
    assert [list(bar.opts["height"]) for bar in bars] == [summary["classes"]["train"], summary["classes"]["val"]]
    assert sum(summary["classes"]["train"]) == 1437 and not view.warnings.isVisible()
    assert len(view.batch.entries) == 16 and "augmented (noise 0.05)" in view.batch_title.text()
    (channel,) = summary["ranges"]["rows"]
    assert view.ranges.rowCount() == 1 and view.ranges.item(0, 0).text() == "channel 0"
    assert abs(channel["mean"]) < 0.2 and 0.8 < channel["std"] < 1.2  # standardised, as trained
    augmented, drawn = batch_values(view), [s["index"] for s in summary["batch"]["samples"]]

    qtbot.mouseClick(view.augment, Qt.MouseButton.LeftButton)  # untick Augment: the same samples, clean
    plain = shown_summary(qtbot, view, summary)
    assert [s["index"] for s in plain["batch"]["samples"]] == drawn and not plain["batch"]["augmented"]
    assert "not augmented — the run augments: noise 0.05" in view.batch_title.text()
    difference = np.abs(augmented - batch_values(view))
    assert 0.02 < difference.std() < 0.08  # the noise's 0.05, and nothing else

    qtbot.mouseClick(view.reshuffle_button, Qt.MouseButton.LeftButton)
    again = shown_summary(qtbot, view, plain)
    assert [s["index"] for s in again["batch"]["samples"]] != drawn

    # an imbalanced table of the user's: the warning above the chart
    rng = np.random.default_rng(0)
    y = np.array([0] * 90 + [1] * 10)
    np.savez(tmp_path / "skewed.npz", x=rng.normal(size=(100, 3)).astype(np.float32) + y[:, None], y=y)
    panel = window.training.settings_panel
    panel.dataset.setCurrentIndex(panel.dataset.findData("npz"))
    panel._set("dataset.path", str(tmp_path / "skewed.npz"))
    skewed = shown_summary(qtbot, view, again)
    assert skewed["classes"]["train"][0] > 3 * skewed["classes"]["train"][1]
    assert view.warnings.isVisible() and "imbalanced" in view.warnings.text()
    assert [view.ranges.item(r, 0).text() for r in range(view.ranges.rowCount())] == ["feature 0", "feature 1",
                                                                                       "feature 2"]

    # text: the tokens of a sample, no histogram of 61 "classes" (token ids take no noise: switched off first)
    panel.widgets["dataset.augment.noise"].setValue(0.0)
    panel.dataset.setCurrentIndex(panel.dataset.findData("text"))
    text = shown_summary(qtbot, view, skewed)
    assert text["tokens"] and view.tokens.isVisible() and not view.histogram.isVisible()
    assert f"The first sample's {len(text['tokens'])} tokens" in view.tokens.text()
