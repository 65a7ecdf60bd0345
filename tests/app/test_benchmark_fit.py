"""Choosing a benchmark set that is not on this machine still checks the graph against it (real worker): the
digits CNN on CIFAR-10 is a problem with its fix at once, and nothing is downloaded for the preview."""

import pytest
from gestures import click_fix, problem_texts

from app.templates import EXAMPLES

WORKER_MS = 90_000
pytestmark = pytest.mark.slow
VALID = ["✔  No problems: the graph is valid."]


def test_the_digits_cnn_on_cifar10_shows_the_input_mismatch_and_its_fix_before_any_download(qtbot, window, tmp_path):
    assert window.files.new_from_template(EXAMPLES / "digits_cnn.json")
    training, panel = window.training, window.training.settings_panel
    qtbot.waitUntil(lambda: training.dataset_info is not None, timeout=WORKER_MS)
    assert problem_texts(window) == VALID

    panel.dataset.setCurrentIndex(panel.dataset.findData("cifar10"))
    qtbot.waitUntil(lambda: (training.dataset_info or {}).get("name") == "cifar10", timeout=WORKER_MS)
    assert any("dataset 'cifar10' gives (N, 3, 32, 32) float32, but input1 is (N, 1, 8, 8)" in t
               for t in problem_texts(window))
    preview = panel.preview.text()
    assert "not downloaded yet" in preview and "(N, 3, 32, 32) float32" in preview and "airplane" in preview
    assert not (tmp_path / "data" / "datasets" / "cifar10").exists()  # the user data folder: nothing fetched

    click_fix(window, "set input1.shape to [3, 32, 32]")
    assert window.doc.nodes["input1"].params["shape"] == [3, 32, 32]
    window.scene.validate_now()
    assert not any("dataset 'cifar10'" in t for t in problem_texts(window))  # the data check is met
