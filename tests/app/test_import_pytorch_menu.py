"""File → Import PyTorch model…: a factory's module or a .pt2 file opens as a new unsaved graph that trains
from the model's weights; a refusal says why and keeps the document."""

import torch

from app.import_pytorch import PytorchImportDialog, PytorchRequest, import_pytorch
from engine.export.weights import read_weights


def test_a_factory_opens_as_a_graph_holding_the_modules_weights(window, dialogs, monkeypatch, tmp_path):
    request = PytorchRequest(factory="torch.nn:Linear", kwargs='{"in_features": 4, "out_features": 2}',
                             shapes=["4"])
    assert import_pytorch(window, request)
    assert [node.type_id for node in window.doc.nodes.values()] == ["Input", "Linear", "Output"]
    (linear,) = [n for n, node in window.doc.nodes.items() if node.type_id == "Linear"]
    weights = read_weights(window.doc.training["init_weights"])
    assert set(weights) == {f"{linear}.weight", f"{linear}.bias"} and weights[f"{linear}.weight"].shape == (2, 4)
    assert window.files.path is None and window.isWindowModified()
    assert "Imported torch.nn:Linear (3 nodes)" in window.statusBar().currentMessage()


def test_a_pt2_file_imports_and_a_refusal_keeps_the_document(window, dialogs, tmp_path):
    program = torch.export.export(torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU()),
                                  (torch.randn(2, 3),), dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(program, tmp_path / "tiny.pt2")
    assert import_pytorch(window, PytorchRequest(pt2=str(tmp_path / "tiny.pt2")))
    assert [node.type_id for node in window.doc.nodes.values()] == ["Input", "Linear", "ReLU", "Output"]
    assert (tmp_path / "tiny.imported.safetensors").is_file()
    before = dict(window.doc.nodes)
    assert not import_pytorch(window, PytorchRequest(factory="no_such_package:model"))
    title, text = dialogs.shown[-1]
    assert title == "Cannot import PyTorch model" and "no_such_package" in text
    assert window.doc.nodes == before


def test_the_dialog_builds_the_request_the_user_typed(qtbot):
    dialog = PytorchImportDialog()
    qtbot.addWidget(dialog)
    dialog.factory.setText("torchvision.models:resnet18")
    dialog.kwargs.setText('{"num_classes": 5}')
    dialog.shape.setText("3,64,64")
    assert dialog.request() == PytorchRequest(factory="torchvision.models:resnet18", kwargs='{"num_classes": 5}',
                                              shapes=["3,64,64"])
    dialog.path.setText("model.pt2")
    dialog.path.textEdited.emit("model.pt2")
    assert dialog.request() == PytorchRequest(pt2="model.pt2")
