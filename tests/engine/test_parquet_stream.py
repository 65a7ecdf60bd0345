"""A Parquet table larger than the memory budget is streamed a row group at a time (engine/data/parquet_stream.py)
and gives the in-memory samples bit for bit while it fits in the sample its encoding is fitted on."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from table_files import churn_rows, house_rows

from engine.data import load_dataset, parquet_stream, placement
from engine.data.batches import Streamed, take
from engine.data.parquet_stream import ParquetRows
from engine.errors import DataError

ROW_GROUP = 7  # rows per row group: a batch of the tests spans several


def write_parquet(path, header: list[str], rows: list[list[str]], numbers=()) -> None:
    """The rows as a Parquet file of small row groups; `numbers` columns typed as floats (empty cells null)."""
    columns = {name: [row[i] or None for row in rows] for i, name in enumerate(header)}
    typed = {name: pa.array([float(v) if v else None for v in values]) if name in numbers else pa.array(values)
             for name, values in columns.items()}
    pq.write_table(pa.table(typed), path, row_group_size=ROW_GROUP)


@pytest.fixture
def churn(tmp_path):
    header, rows = churn_rows(90, seed=3)
    write_parquet(tmp_path / "churn.parquet", header, rows, numbers=("monthly_charges", "total_charges"))
    return {"name": "parquet", "path": "churn.parquet", "label": "churn"}


def tiny_budget(monkeypatch) -> None:
    """A machine with 1 KiB of memory to spare: training.data_placement auto streams anything bigger."""
    monkeypatch.setattr(placement, "host_available_bytes", lambda: 1024)


def everything(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    return take(dataset, list(range(len(dataset))))


def assert_same_samples(streamed, in_memory) -> None:
    for part in ("train", "val"):
        x, y = everything(getattr(streamed, part))
        mem_x, mem_y = getattr(in_memory, part).tensors
        assert torch.equal(x, mem_x) and torch.equal(y, mem_y), part
    assert streamed.record({}) | {"summary": ""} == in_memory.record({}) | {"summary": ""}


def test_a_table_over_the_budget_streams_the_in_memory_samples(churn, tmp_path, monkeypatch):
    in_memory = load_dataset(churn, seed=0, base_dir=tmp_path)
    tiny_budget(monkeypatch)
    from engine.config import TrainingConfig
    from engine.train.setup import in_memory as budget

    config = TrainingConfig.from_dict({"dataset": churn})
    streamed = load_dataset(churn, seed=0, base_dir=tmp_path, in_memory=budget(config, torch.device("cpu")))
    assert isinstance(streamed.train, ParquetRows) and isinstance(streamed.val, ParquetRows)
    assert pq.ParquetFile(tmp_path / "churn.parquet").num_row_groups == 13
    assert_same_samples(streamed, in_memory)
    assert "streamed: 90 rows read a row group at a time as batches ask for them; the encoding and statistics " \
           "were fitted on all its rows" in streamed.describe()

    shuffled = [40, 3, 71, 3, 15, 60]  # rows from several row groups, one twice, in no order
    x, y = take(streamed.train, shuffled)
    assert torch.equal(x, in_memory.train.tensors[0][shuffled]) and torch.equal(y, in_memory.train.tensors[1][shuffled])
    batches = list(Streamed(streamed.train, torch.device("cpu"), workers=0).batches(range(len(streamed.train)), 16))
    assert torch.equal(torch.cat([b[0] for b in batches]), in_memory.train.tensors[0])


def test_a_regression_table_streams_its_standardised_targets(tmp_path):
    header, rows, _ = house_rows(40, seed=2)
    write_parquet(tmp_path / "house.parquet", header, rows, numbers=("size_m2", "price"))
    config = {"name": "parquet", "path": "house.parquet", "label": "price"}
    in_memory = load_dataset(config, seed=1, base_dir=tmp_path)
    streamed = load_dataset(config, seed=1, base_dir=tmp_path, in_memory=lambda size: False)
    assert in_memory.task == streamed.task == "regression" and in_memory.target_normalization is not None
    assert_same_samples(streamed, in_memory)


def test_a_larger_table_is_fitted_on_its_first_rows_and_split_whole(churn, tmp_path, monkeypatch):
    monkeypatch.setattr(parquet_stream, "SAMPLE_ROWS", 30)
    in_memory = load_dataset(churn, seed=0, base_dir=tmp_path)
    streamed = load_dataset(churn, seed=0, base_dir=tmp_path, in_memory=lambda size: False)
    # every labelled row is split as in memory; the encoding is the first 30 rows' (their fill values, statistics)
    assert torch.equal(torch.from_numpy(streamed.train.labels), in_memory.train.tensors[1])
    assert len(streamed.val) == len(in_memory.val) == 18
    assert streamed.input_shape == in_memory.input_shape and "fitted on its first 30 rows" in streamed.describe()
    assert everything(streamed.train)[0].isfinite().all()

    header, rows = churn_rows(40, seed=3)
    rows[35][-1] = "maybe"  # a class the first 30 rows never show
    write_parquet(tmp_path / "late.parquet", header, rows)
    with pytest.raises(DataError, match=r"late\.parquet: row 36: class 'maybe' is not among the 2 classes of the "
                                        r"first 30 rows"):
        load_dataset({**churn, "path": "late.parquet"}, seed=0, base_dir=tmp_path, in_memory=lambda size: False)


def test_what_needs_the_whole_table_is_refused_when_streaming(churn, tmp_path):
    for key, value in (("missing", "drop"), ("missing", {"total_charges": "drop"}), ("class_balance", "oversample")):
        with pytest.raises(DataError, match=f"'{key}' .*needs the whole table in memory, and churn.parquet is"):
            load_dataset({**churn, key: value}, seed=0, base_dir=tmp_path, in_memory=lambda size: False)
    weighted = load_dataset({**churn, "class_balance": "weights"}, seed=0, base_dir=tmp_path)
    streamed = load_dataset({**churn, "class_balance": "weights"}, seed=0, base_dir=tmp_path,
                            in_memory=lambda size: False)
    assert np.allclose(streamed.class_weights, weighted.class_weights)
