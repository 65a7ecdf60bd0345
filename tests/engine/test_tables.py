"""Tables as users bring them: text categories, yes/no columns, id columns, empty cells, real-scale targets,
imbalanced classes — from a CSV, a Parquet file, or .npy pairs (engine/data/table_source.py, tables.py)."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sklearn.metrics
from table_files import churn_rows, write_csv

from engine.data import load_dataset
from engine.data.tables import MAX_CATEGORIES, TableEncoding
from engine.errors import DataError
from engine.metrics import per_class, regression_scores, roc_auc


@pytest.fixture(scope="module")
def churn(tmp_path_factory):
    root = tmp_path_factory.mktemp("churn")
    header, rows = churn_rows(400, seed=1)
    write_csv(root / "churn.csv", header, rows)
    return root, header, rows


def csv_split(root, **config):
    return load_dataset({"name": "csv", "path": "churn.csv", **config}, seed=0, base_dir=root)


def test_text_yes_no_id_and_empty_cells_become_features_with_notes(churn):
    root, header, rows = churn
    split = csv_split(root)
    columns = {c["name"]: c for c in split.raw["columns"]}
    assert split.raw["features"] == ["tenure", "contract", "payment", "paperless", "monthly_charges", "total_charges"]
    assert {name: c["kind"] for name, c in columns.items()} == {
        "tenure": "number", "contract": "category", "payment": "category", "paperless": "binary",
        "monthly_charges": "number", "total_charges": "number"}
    assert columns["paperless"]["values"] == ["no", "yes"]  # "no" is 0
    empty = {name: sum(not row[header.index(name)] for row in rows) for name in ("contract", "total_charges")}
    assert all(empty.values())
    assert [c["name"] for c in columns.values() if c["indicator"]] == list(empty)
    assert split.input_shape == (len(split.raw["encoded"]),) == (1 + 4 + 4 + 1 + 1 + 2,)
    text = split.describe()
    assert "left out 'customer_id': unique to every row" in text
    assert f"{sum(empty.values())} empty cells filled (contract {empty['contract']}: most_frequent, " \
           f"total_charges {empty['total_charges']}: median)" in text
    assert split.class_names == ["no", "yes"] and split.task == "classification"


def test_the_encoding_record_rebuilds_x_from_the_raw_cells(churn):
    root, header, rows = churn
    split = csv_split(root, normalize=False, val_split=0.5)
    encoding = TableEncoding.from_record(split.raw["columns"])
    cells = {name: [row[header.index(name)] for row in rows] for name in split.raw["features"]}
    x = encoding.encode(cells, [f"row {i + 2}" for i in range(len(rows))], "churn.csv")
    assert encoding.names() == split.raw["encoded"]
    got = np.concatenate([split.train.tensors[0].numpy(), split.val.tensors[0].numpy()])
    # every loaded sample is one of the file's rows, encoded the same way
    assert {tuple(r) for r in got.round(4).tolist()} == {tuple(r) for r in x.round(4).tolist()}
    decoded = [encoding.decode(row) for row in x[:50]]
    for row, shown in zip(rows[:50], decoded, strict=True):  # each row reads back as the file has it
        for name, value in shown.items():
            cell = row[header.index(name)]
            assert value == "(empty)" if not cell else float(value) == pytest.approx(float(cell)) \
                if name in ("tenure", "monthly_charges", "total_charges") else value == cell
    paperless = split.raw["encoded"].index("paperless")
    assert set(x[:, paperless].tolist()) == {0.0, 1.0}
    # a fill value comes from the training part: the median of the training rows' total charges
    fill = next(c for c in split.raw["columns"] if c["name"] == "total_charges")["fill"]
    column = split.raw["encoded"].index("total_charges")
    present = split.train.tensors[0].numpy()[:, column + 1] == 0  # its "(missing)" indicator is 0
    assert fill == pytest.approx(float(np.median(split.train.tensors[0].numpy()[present, column])), rel=1e-6)


def test_unseen_and_rare_categories_share_the_other_column_and_unknown_yes_no_values_are_named():
    names = [f"town{i:02d}" for i in range(MAX_CATEGORIES + 5)]
    cells = {"town": names * 2 + ["town00"] * 10}
    from engine.data.table_source import _fit

    column = _fit("town", "category", cells["town"], list(range(len(cells["town"]))),
                  list(range(len(cells["town"]))), "most_frequent", indicator=False)
    assert column.other and len(column.values) == MAX_CATEGORIES and "town00" in column.values
    encoded = column.encode(["town00", "somewhere new", ""], ["row 1", "row 2", "row 3"], "f.csv")
    assert encoded.shape == (3, MAX_CATEGORIES + 1)
    assert encoded[0, column.values.index("town00")] == 1 and encoded[1, -1] == 1  # unseen → (other)
    assert encoded[2, column.values.index("town00")] == 1  # empty → the most frequent value
    binary = TableEncoding.from_record([{"name": "paperless", "kind": "binary", "values": ["no", "yes"],
                                         "fill": "yes"}])
    with pytest.raises(DataError, match=r"f\.csv: row 7, column 'paperless': 'maybe' is neither of the two"):
        binary.encode({"paperless": ["maybe"]}, ["row 7"], "f.csv")


def test_missing_values_can_drop_rows_and_choices_are_per_column(churn):
    root, header, rows = churn
    empty_total = sum(not row[header.index("total_charges")] for row in rows)
    split = csv_split(root, missing={"total_charges": "drop", "contract": "most_frequent"})
    assert len(split.train) + len(split.val) == len(rows) - empty_total
    assert f"{empty_total} rows with empty cells in 'total_charges' were dropped" in split.describe()
    assert "total_charges (missing)" not in split.raw["encoded"] and "contract (missing)" in split.raw["encoded"]
    mean = csv_split(root, missing="mean")
    fill = next(c for c in mean.raw["columns"] if c["name"] == "total_charges")["fill"]
    assert fill != next(c for c in split.raw["columns"] if c["name"] == "tenure")["fill"]
    with pytest.raises(DataError, match="'missing.tenure' must be one of median, mean, most_frequent, drop"):
        csv_split(root, missing={"tenure": "zero"})


def test_columns_can_be_chosen_encoded_or_dropped_and_an_id_can_be_asked_for(churn):
    root, _, _ = churn
    split = csv_split(root, encode={"tenure": "category", "payment": "drop"})
    assert "payment" not in split.raw["features"]
    assert sum(name.startswith("tenure=") for name in split.raw["encoded"]) == MAX_CATEGORIES + 1  # + (other)
    chosen = csv_split(root, features=["customer_id", "tenure"])
    assert chosen.raw["features"] == ["customer_id", "tenure"] and "left out" not in chosen.describe()
    with pytest.raises(DataError, match="column 'contract' is set to binary but holds 3 values"):
        csv_split(root, encode={"contract": "binary"})


def test_rows_without_a_label_are_left_out_and_said(tmp_path):
    rows = [[str(i), "a" if i % 2 else "b"] for i in range(30)]
    rows[4][1] = ""
    write_csv(tmp_path / "t.csv", ["x", "y"], rows)
    split = load_dataset({"name": "csv", "path": "t.csv"}, seed=0, base_dir=tmp_path)
    assert len(split.train) + len(split.val) == 29
    assert "1 rows have no 'y' (the label) and were left out (row 6)" in split.describe()


def test_regression_targets_are_standardised_and_recorded(tmp_path):
    rng = np.random.default_rng(0)
    size = rng.uniform(50, 200, 200)
    write_csv(tmp_path / "h.csv", ["size", "price"], [[f"{s:.2f}", f"{3000 * s + 1e5:.0f}"] for s in size])
    split = load_dataset({"name": "csv", "path": "h.csv"}, seed=0, base_dir=tmp_path)
    y = split.train.tensors[1].numpy()
    assert abs(y.mean()) < 1e-4 and y.std() == pytest.approx(1, abs=1e-3)
    stats = split.target_normalization
    assert 3e5 < stats["mean"][0] < 6e5 and split.record({})["raw"]["target_normalization"] == stats
    np.testing.assert_allclose(y[:, 0] * stats["std"][0] + stats["mean"][0], 3000 * split.train.tensors[0].numpy()[
        :, 0] * split.normalization["std"][0] + 3000 * split.normalization["mean"][0] + 1e5, rtol=1e-4)


def test_class_balance_oversamples_the_training_part_only(churn):
    root, _, _ = churn
    plain = csv_split(root)
    balanced = csv_split(root, class_balance="oversample")
    counts = np.bincount(balanced.train.tensors[1].numpy())
    assert counts[0] == counts[1] == np.bincount(plain.train.tensors[1].numpy()).max()
    assert len(balanced.val) == len(plain.val) and "imbalanced" not in balanced.describe()
    with pytest.raises(DataError, match="'class_balance' applies to one class label per sample"):
        load_dataset({"name": "csv", "path": "churn.csv", "label": "tenure", "task": "regression",
                      "class_balance": "oversample"}, seed=0, base_dir=root)


def test_an_imbalanced_table_is_warned_about(tmp_path):
    rows = [[str(i), "rare" if i % 10 == 0 else "common"] for i in range(100)]
    write_csv(tmp_path / "t.csv", ["x", "y"], rows)
    text = load_dataset({"name": "csv", "path": "t.csv"}, seed=0, base_dir=tmp_path).describe()
    assert "classes are imbalanced: 'rare' is 10.0% of the training samples, 'common' 90.0%" in text


def test_parquet_reads_like_the_same_csv(churn, tmp_path):
    root, header, rows = churn
    columns = {name: [row[i] for row in rows] for i, name in enumerate(header)}
    typed = {name: pa.array([float(v) if v else None for v in values]) if name in ("monthly_charges", "total_charges")
             else pa.array([int(v) for v in values]) if name == "tenure"
             else pa.array([v == "yes" for v in values]) if name == "paperless"
             else pa.array([v or None for v in values]) for name, values in columns.items()}
    pq.write_table(pa.table(typed), tmp_path / "churn.parquet")
    from_csv = csv_split(root, normalize=False)
    from_parquet = load_dataset({"name": "parquet", "path": "churn.parquet", "normalize": False}, seed=0,
                                base_dir=tmp_path)
    assert from_parquet.raw["features"] == from_csv.raw["features"]
    assert from_parquet.raw["columns"][3]["values"] == ["false", "true"]  # a boolean column is yes/no
    np.testing.assert_allclose(from_parquet.train.tensors[0].numpy(), from_csv.train.tensors[0].numpy(), rtol=1e-6)
    assert (from_parquet.val.tensors[1] == from_csv.val.tensors[1]).all()
    picked = load_dataset({"name": "parquet", "path": "churn.parquet", "features": ["tenure"], "label": "churn"},
                          seed=0, base_dir=tmp_path)
    assert picked.input_shape == (1,)
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match=r"bad\.parquet: not a readable Parquet file"):
        load_dataset({"name": "parquet", "path": "bad.parquet"}, seed=0, base_dir=tmp_path)
    with pytest.raises(DataError, match=r"churn\.parquet: no column 'nope'"):
        load_dataset({"name": "parquet", "path": "churn.parquet", "label": "nope"}, seed=0, base_dir=tmp_path)


def test_npy_pairs_classify_or_regress(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "x.npy", rng.normal(size=(50, 2, 3)).astype(np.float32))
    np.save(tmp_path / "y.npy", np.arange(50) % 3)
    np.save(tmp_path / "t.npy", rng.normal(100, 10, 50))
    split = load_dataset({"name": "npy", "path": "x.npy", "labels": "y.npy"}, seed=0, base_dir=tmp_path)
    assert split.task == "classification" and split.num_classes == 3 and split.input_shape == (2, 3)
    reg = load_dataset({"name": "npy", "path": "x.npy", "labels": "t.npy"}, seed=0, base_dir=tmp_path)
    assert reg.task == "regression" and reg.target_normalization["mean"][0] == pytest.approx(100, abs=5)
    np.save(tmp_path / "short.npy", np.arange(49))
    with pytest.raises(DataError, match=r"x\.npy: array 'x' has 50 samples but short\.npy's 'y' has 49"):
        load_dataset({"name": "npy", "path": "x.npy", "labels": "short.npy"}, seed=0, base_dir=tmp_path)


def test_metrics_agree_with_scikit_learn():
    rng = np.random.default_rng(0)
    true, guess = rng.integers(0, 3, 200), rng.integers(0, 3, 200)
    confusion = sklearn.metrics.confusion_matrix(true, guess)
    ours = per_class(confusion)
    p, r, f, s = sklearn.metrics.precision_recall_fscore_support(true, guess)
    np.testing.assert_allclose(ours["precision"], p)
    np.testing.assert_allclose(ours["recall"], r)
    np.testing.assert_allclose(ours["f1"], f)
    assert ours["support"] == s.tolist()
    scores = np.round(rng.random(200), 1)  # ties
    labels = rng.random(200) < scores
    assert roc_auc(scores, labels) == pytest.approx(sklearn.metrics.roc_auc_score(labels, scores))
    assert roc_auc(scores, np.ones(200, bool)) is None
    y, p = rng.normal(size=50), rng.normal(size=50)
    got = regression_scores(y, p)
    assert got["r2"] == pytest.approx(sklearn.metrics.r2_score(y, p))
    assert got["rmse"] == pytest.approx(np.sqrt(sklearn.metrics.mean_squared_error(y, p)))
