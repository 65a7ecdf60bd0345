"""`layerloom validate GRAPH --fix`: the fixes the app offers against the graph's dataset, applied headlessly and
saved — the Input's shape from a table's encoded width, one score per class, the loss for a regression."""

import json

from table_files import churn_rows, house_rows, write_csv
from test_table_training import mlp

from engine.cli import main
from engine.data import load_dataset
from engine.data_fit import ReplaceNode
from engine.data_fixes import apply_fix
from engine.fileformat import load_document, save_document


def test_a_table_graph_gets_the_inputs_width_and_the_classes(tmp_path, capsys):
    write_csv(tmp_path / "churn.csv", *churn_rows(200))
    width = load_dataset({"name": "csv", "path": "churn.csv"}, seed=0, base_dir=tmp_path).input_shape[0]
    doc = mlp(4, 3, "CrossEntropyLoss", {"shape": [], "dtype": "int64"}, dataset={"name": "csv", "path": "churn.csv"})
    save_document(doc, tmp_path / "churn.json")
    assert main(["validate", str(tmp_path / "churn.json"), "--fix"]) == 0
    out = capsys.readouterr().out
    assert f"fixed: set input1.shape to [{width}]\nfixed: set fc2.out_features to 2\nsaved " in out
    assert out.rstrip().endswith("valid")
    fixed = load_document(tmp_path / "churn.json")
    assert fixed.nodes["input1"].params["shape"] == [width] and fixed.nodes["fc2"].params["out_features"] == 2
    before = (tmp_path / "churn.json").read_bytes()
    assert main(["validate", str(tmp_path / "churn.json"), "--fix", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["fixed"] == []
    assert (tmp_path / "churn.json").read_bytes() == before  # nothing to fix: not rewritten


def test_a_regression_gets_a_regression_loss_and_one_value_per_target(tmp_path, capsys):
    header, rows, _ = house_rows(100)
    write_csv(tmp_path / "houses.csv", header, rows)
    doc = mlp(5, 2, "CrossEntropyLoss", {"shape": [], "dtype": "int64"}, dataset={"name": "csv", "path": "houses.csv"})
    save_document(doc, tmp_path / "houses.json")
    assert main(["validate", str(tmp_path / "houses.json"), "--fix", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "replace loss1 with a MSELoss" in report["fixed"] and report["valid"]
    assert {"set target1.shape to [1]", "set target1.dtype to float32", "set fc2.out_features to 1"} <= set(
        report["fixed"])
    fixed = load_document(tmp_path / "houses.json")
    assert fixed.nodes["loss1"].type_id == "MSELoss"
    assert sorted(map(str, fixed.edges_of("loss1"))) == sorted(map(str, doc.edges_of("loss1")))  # wires kept


def test_a_dataset_that_cannot_be_read_is_named_and_the_graph_left_alone(tmp_path, capsys):
    doc = mlp(4, 3, "CrossEntropyLoss", {"shape": [], "dtype": "int64"}, dataset={"name": "csv", "path": "gone.csv"})
    save_document(doc, tmp_path / "g.json")
    before = (tmp_path / "g.json").read_bytes()
    assert main(["validate", str(tmp_path / "g.json"), "--fix"]) == 1
    assert "error: --fix: gone.csv: not found" in capsys.readouterr().err
    assert (tmp_path / "g.json").read_bytes() == before


def test_replacing_a_node_keeps_its_id_place_and_wires():
    doc = mlp(4, 1, "CrossEntropyLoss", {"shape": [1], "dtype": "float32"})
    order, wires = list(doc.nodes), doc.edges_of("loss1")
    apply_fix(doc, ReplaceNode("loss1", "L1Loss"))
    assert doc.nodes["loss1"].type_id == "L1Loss" and list(doc.nodes) == order
    assert sorted(map(str, doc.edges_of("loss1"))) == sorted(map(str, wires))
