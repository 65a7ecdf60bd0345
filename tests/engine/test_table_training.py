"""Your own table, trained and deployed: a price-scale regression learns without rescaling by hand, and a churn
table with text, yes/no, id columns and empty cells trains, finds the rare class with class balance on, and its
export reads the raw rows (strings, empty cells) through `layerloom predict` with the run's own accuracy."""

import json

import numpy as np
import pytest
from sklearn.model_selection import train_test_split
from table_files import churn_rows, house_rows, write_csv
from train_harness import of_type, run

from engine.cli import main
from engine.data import load_dataset
from engine.document import Edge, GraphDocument
from engine.export.bundle import export_all


def mlp(width: int, outputs: int, loss: str, target: dict, **training) -> GraphDocument:
    doc = GraphDocument("table mlp")
    doc.add_node("Input", {"shape": [width], "dtype": "float32"}, node_id="input1")
    doc.add_node("Linear", {"out_features": 32}, node_id="fc1")
    doc.add_node("ReLU", node_id="relu1")
    doc.add_node("Linear", {"out_features": outputs}, node_id="fc2")
    doc.add_node("Output", node_id="output1")
    doc.add_node("Target", target, node_id="target1")
    doc.add_node(loss, node_id="loss1")
    for edge in [("input1", "out", "fc1", "in"), ("fc1", "out", "relu1", "in"), ("relu1", "out", "fc2", "in"),
                 ("fc2", "out", "output1", "in"), ("fc2", "out", "loss1", "pred"),
                 ("target1", "out", "loss1", "target")]:
        doc.add_edge(Edge(*edge))
    doc.training = {"optimizer": {"name": "adam", "lr": 0.01}, "batch_size": 32, "device": "cpu", **training}
    return doc


def test_a_price_scale_regression_learns_and_predict_reports_its_error_in_prices(tmp_path, capsys):
    header, rows, prices = house_rows(1500)
    write_csv(tmp_path / "houses.csv", header, rows)
    dataset = {"name": "csv", "path": "houses.csv"}
    width = load_dataset(dataset, seed=0, base_dir=tmp_path).input_shape[0]
    doc = mlp(width, 1, "MSELoss", {"shape": [1], "dtype": "float32"}, dataset=dataset, epochs=8)
    _, events = run(doc, tmp_path / "run", base_dir=tmp_path)
    metrics = of_type(events, "epoch")[-1]["metrics"]
    baseline = float(np.abs(prices - prices.mean()).mean())  # always answering the mean price
    assert metrics["r2"] > 0.8 and metrics["mae"] < 0.4 * baseline and metrics["mae"] > 1000  # in prices

    export_all(doc, onnx=tmp_path / "houses.onnx", weights=tmp_path / "run")
    assert main(["predict", str(tmp_path / "houses.onnx"), str(tmp_path / "houses.csv")]) == 0
    lines = capsys.readouterr().out.splitlines()
    first = float(lines[0].split(": ")[1])
    assert abs(first - prices[0]) < 0.3 * prices[0]  # row 2 is the first house, predicted in its own units
    assert lines[-1].startswith("MAE ") and "over 1500 samples with a target" in lines[-1]
    mae = float(lines[-1].split()[1].rstrip(","))
    assert mae < 0.4 * baseline


@pytest.fixture(scope="module")
def churn_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("churn")
    header, rows = churn_rows(1500)
    write_csv(root / "churn.csv", header, rows)
    dataset = {"name": "csv", "path": "churn.csv", "class_balance": "oversample"}
    width = load_dataset(dataset, seed=0, base_dir=root).input_shape[0]
    doc = mlp(width, 2, "CrossEntropyLoss", {"shape": [], "dtype": "int64"}, dataset=dataset, epochs=6,
              early_stopping={"monitor": "val_accuracy"})
    _, events = run(doc, root / "run", base_dir=root)
    return doc, root, header, rows, events


def test_churn_with_class_balance_finds_the_churners(churn_run):
    _, root, _, _, events = churn_run
    confusion = [e["data"] for e in of_type(events, "artifact") if e.get("tag") == "confusion"][-1]
    churners = confusion["class_names"].index("yes")
    assert confusion["recall"][churners] > 0.6  # always answering "no" finds none
    assert confusion["support"][churners] < 0.4 * sum(confusion["support"])  # the rare class
    data = json.loads((root / "run" / "data.json").read_text())
    assert data["raw"]["features"][0] == "tenure"  # customer_id left out
    assert any("(missing)" in name for name in data["raw"]["encoded"])


def test_the_export_reads_raw_rows_with_text_and_empty_cells_at_the_runs_accuracy(churn_run, tmp_path, capsys):
    doc, root, header, rows, _ = churn_run
    export_all(doc, onnx=tmp_path / "churn.onnx", weights=root / "run")
    # the validation rows as the file holds them, picked as the loader splits (stratified, seed 0, 20 %)
    labels = [row[-1] for row in rows]
    _, val = train_test_split(np.arange(len(rows)), test_size=0.2, random_state=0, stratify=labels)
    val_rows = [rows[i] for i in val]
    assert any("" in row for row in val_rows)  # empty cells among them
    write_csv(tmp_path / "val.csv", header, val_rows)
    assert main(["predict", str(tmp_path / "churn.onnx"), str(tmp_path / "val.csv"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    best = json.loads((root / "run" / "summary.json").read_text())["best"]
    assert report["accuracy"] == pytest.approx(best["value"], abs=1e-6)
    metrics = report["metrics"]
    assert set(metrics) >= {"precision", "recall", "f1", "roc_auc"} and metrics["roc_auc"] > 0.75

    # the same rows in a different column order, as a Parquet file someone exported
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {name: [row[header.index(name)] or None for row in val_rows] for name in reversed(header)}
    pq.write_table(pa.table(columns), tmp_path / "val.parquet")
    assert main(["predict", str(tmp_path / "churn.onnx"), str(tmp_path / "val.parquet"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == pytest.approx(report["accuracy"])
    assert main(["predict", str(tmp_path / "churn.onnx"), str(tmp_path / "val.csv")]) == 0
    text = capsys.readouterr().out
    assert "ROC AUC (yes against no): " in text and "  yes  precision " in text


def test_a_new_category_and_an_empty_cell_are_read_and_a_bad_number_named(churn_run, tmp_path, capsys):
    doc, root, header, rows, _ = churn_run
    export_all(doc, onnx=tmp_path / "churn.onnx", weights=root / "run")
    odd = [list(rows[0]), list(rows[1]), list(rows[2])]
    odd[0][header.index("payment")] = "crypto"  # never seen in training: no payment column is set
    odd[1][header.index("tenure")] = ""
    write_csv(tmp_path / "odd.csv", header, odd[:2])
    assert main(["predict", str(tmp_path / "churn.onnx"), str(tmp_path / "odd.csv")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("row 2: ") and lines[1].startswith("row 3: ") and lines[2].startswith("accuracy: ")
    odd[2][header.index("monthly_charges")] = "lots"
    write_csv(tmp_path / "bad.csv", header, odd)
    assert main(["predict", str(tmp_path / "churn.onnx"), str(tmp_path / "bad.csv")]) == 1
    assert "bad.csv: row 4, column 'monthly_charges': 'lots' is not a number" in capsys.readouterr().err

