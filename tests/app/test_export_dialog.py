"""The export dialog offers a GAN's generator alone; other graphs export whole (no choice shown)."""

from __future__ import annotations

import json

from PySide6.QtCore import QObject, Signal

from app.templates import EXAMPLES
from app.training.export_dialog import ExportDialog


class FakeClient(QObject):
    """Records the commands the dialog sends instead of starting a worker."""

    message = Signal(object)

    def __init__(self):
        super().__init__()
        self.sent: list[dict] = []

    def send(self, **command) -> None:
        self.sent.append(command)


def _dialog(qtbot, template: str, tmp_path) -> tuple[ExportDialog, FakeClient]:
    client = FakeClient()
    graph = json.loads((EXAMPLES / template).read_text(encoding="utf-8"))
    dialog = ExportDialog(client, [], graph, tmp_path)
    qtbot.addWidget(dialog)
    return dialog, client


def test_a_gan_exports_its_generator_alone_by_default(qtbot, tmp_path):
    dialog, client = _dialog(qtbot, "digits_gan.json", tmp_path)
    choices = [dialog.outputs.itemText(i) for i in range(dialog.outputs.count())]
    assert choices[0].startswith("Every Output") and choices[1].startswith("fake only — the generator")
    assert choices[2] == "real_logit only" and dialog.outputs.currentData() == ["fake"]
    dialog.export()
    assert client.sent[-1]["outputs"] == ["fake"] and client.sent[-1]["cmd"] == "export"
    dialog.outputs.setCurrentIndex(0)
    dialog.export()
    assert client.sent[-1]["outputs"] is None


def test_a_graph_with_one_output_offers_no_choice(qtbot, tmp_path):
    dialog, client = _dialog(qtbot, "digits_cnn.json", tmp_path)
    assert dialog.outputs.count() == 1 and dialog.outputs.parent() is None  # never added to the form
    dialog.export()
    assert client.sent[-1]["outputs"] is None
