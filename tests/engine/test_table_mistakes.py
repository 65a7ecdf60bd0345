"""A table classifier's mistakes name the CSV rows they came from, with their raw cells: the split remembers each
validation sample's source row and the worker's evaluation returns them (issue 23)."""

from __future__ import annotations

import numpy as np
from table_files import churn_rows, write_csv
from test_table_training import mlp
from train_harness import run

from engine.data import load_dataset
from engine.train.mistakes import MAX_MISTAKES, list_mistakes
from engine.train.worker import evaluate


def test_the_split_remembers_each_validation_samples_row_and_raw_cells(tmp_path):
    header, rows = churn_rows(120)
    rows[7][1] = ""  # an empty tenure: imputed, but the row still shows it as the file has it
    rows[9][-1] = ""  # no label: left out, so the rows after it are not shifted
    write_csv(tmp_path / "churn.csv", header, rows)
    split = load_dataset({"name": "csv", "path": "churn.csv"}, seed=0, base_dir=tmp_path)
    source = split.val_source
    assert source is not None and len(source.rows) == len(split.val) == 24
    by_id = {row[0]: (line, row) for line, row in enumerate(rows, start=2)}  # row 1 is the header
    _, y = split.val.tensors
    for i, where in enumerate(source.rows):
        shown = source.row(i)
        line, row = by_id[shown["cells"]["customer_id"]]
        assert where == shown["row"] == f"row {line}"
        assert list(shown["cells"].values()) == row  # every column, raw, the id and the label too
        assert split.class_names[int(y[i])] == row[-1]  # the sample is that row's
    assert "row 11" not in source.rows  # the unlabelled row is in neither part


def test_list_mistakes_caps_each_cell_and_keeps_the_split_order():
    y = np.array([0] * (MAX_MISTAKES + 5) + [1, 1])
    probabilities = np.tile([0.2, 0.8], (len(y), 1))  # everything predicted 1
    found = list_mistakes(y, probabilities, None)
    assert [m["index"] for m in found] == list(range(MAX_MISTAKES))
    assert found[0] == {"index": 0, "true": 0, "predicted": 1, "confidence": 0.8}


def test_the_evaluation_lists_a_table_classifiers_mistakes_as_rows_of_its_file(tmp_path):
    header, rows = churn_rows(300)
    write_csv(tmp_path / "churn.csv", header, rows)
    dataset = {"name": "csv", "path": "churn.csv"}
    width = load_dataset(dataset, seed=0, base_dir=tmp_path).input_shape[0]
    doc = mlp(width, 2, "CrossEntropyLoss", {"shape": [], "dtype": "int64"}, dataset=dataset, epochs=1)
    run(doc, tmp_path / "run", base_dir=tmp_path)
    reply = evaluate(doc, str(tmp_path / "run"), None, str(tmp_path))
    confusion, mistakes = reply["confusion"], reply["mistakes"]
    assert len(mistakes) == confusion[0][1] + confusion[1][0] > 0
    lines = {f"row {line}": row for line, row in enumerate(rows, start=2)}
    names = reply["class_names"]
    for mistake in mistakes:
        assert list(mistake["cells"].values()) == lines[mistake["row"]]
        assert names[mistake["true"]] == mistake["cells"]["churn"] != names[mistake["predicted"]]
        assert 0.5 <= mistake["confidence"] <= 1


def test_the_samples_a_confusion_cell_asks_for_come_with_their_rows_and_raw_cells(tmp_path):
    from engine.fileformat import to_dict
    from engine.train.worker import Worker

    header, rows = churn_rows(120)
    write_csv(tmp_path / "churn.csv", header, rows)
    dataset = {"name": "csv", "path": "churn.csv"}
    split = load_dataset(dataset, seed=0, base_dir=tmp_path)
    doc = mlp(split.input_shape[0], 2, "CrossEntropyLoss", {"shape": [], "dtype": "int64"}, dataset=dataset)
    reply = Worker(lambda message: None)._samples({"cmd": "samples", "graph": to_dict(doc), "indices": [3, 17],
                                                   "base_dir": str(tmp_path)})
    lines = {f"row {line}": row for line, row in enumerate(rows, start=2)}
    assert [s["index"] for s in reply["samples"]] == [3, 17]
    for sample in reply["samples"]:
        assert sample["row"] == split.val_source.rows[sample["index"]]  # the live view's row, as Results list it
        assert list(sample["cells"].values()) == lines[sample["row"]] and sample["label"] == sample["cells"]["churn"]
