"""The problems panel's fix of a loss that does not fit the task: the loss node replaced in place, one undo step."""

from app.problems import apply_fix
from app.templates import EXAMPLES
from engine.data_fit import ReplaceNode


def test_a_loss_is_replaced_in_place_and_undone_in_one_step(window):
    assert window.files.new_from_template(EXAMPLES / "digits_mlp.json")
    doc = window.doc
    wires, position = sorted(map(str, doc.edges_of("loss1"))), doc.nodes["loss1"].position
    assert doc.nodes["loss1"].type_id == "CrossEntropyLoss"
    apply_fix(window, ReplaceNode("loss1", "MSELoss"))
    assert doc.nodes["loss1"].type_id == "MSELoss" and doc.nodes["loss1"].position == position
    assert sorted(map(str, doc.edges_of("loss1"))) == wires
    assert window.scene.items_by_id["loss1"] is not None
    window.editor.stack.undo()
    assert doc.nodes["loss1"].type_id == "CrossEntropyLoss" and sorted(map(str, doc.edges_of("loss1"))) == wires
