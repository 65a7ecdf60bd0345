"""The run store: where runs live, what a run folder records, listing, renaming, deleting, moving."""

import json
import math
import re
import tempfile
from dataclasses import asdict
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from train_harness import iris_mlp

from engine import runs
from engine.cli import main
from engine.config import TrainingConfig
from engine.fileformat import from_dict, save_document, to_dict
from engine.train import read_events, train


def test_a_graphs_store_sits_beside_it_and_is_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    assert runs.store_for("sub/my_cnn.json") == runs.store_for(tmp_path / "sub" / "my_cnn.json") \
        == tmp_path / "sub" / "my_cnn.runs"
    run_dir = runs.new_run_dir("sub/my_cnn.runs", "my cnn")
    assert run_dir.is_absolute() and run_dir.parent == tmp_path / "sub" / "my_cnn.runs"
    assert run_dir.name.startswith("my-cnn-") and run_dir != runs.new_run_dir("sub/my_cnn.runs", "my cnn")


def test_unsaved_graphs_runs_go_to_the_user_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERLOOM_DATA_DIR", str(tmp_path / "data"))
    assert runs.unsaved_store("untitled 1a2b") == tmp_path / "data" / "unsaved" / "untitled-1a2b.runs"
    assert runs.unsaved_store("a") != runs.unsaved_store("b")


def test_a_run_records_the_graph_as_trained_every_setting_and_its_data(tmp_path):
    doc = iris_mlp(epochs=1)
    run_dir = tmp_path / "g.runs" / "r1"
    train(doc, run_dir)
    assert json.loads((run_dir / "graph.json").read_text()) == to_dict(doc)
    config = json.loads((run_dir / "config.json").read_text())
    assert config == TrainingConfig.from_dict(doc.training).to_dict()  # every default written out
    assert config["optimizer"]["weight_decay"] == 0.0 and config["schedule"]["name"] == "constant"
    data = json.loads((run_dir / "data.json").read_text())
    assert data["class_names"] == ["setosa", "versicolor", "virginica"] and data["input_shape"] == [4]
    assert len(data["normalization"]["mean"]) == 4 and data["train_samples"] == 120

    doc.add_node("ReLU", node_id="later_edit")  # the graph changes after the run …
    train(from_dict(runs.run_graph(run_dir)), run_dir, epochs=2, resume=True)  # … a resume trains the recorded one
    assert [n["id"] for n in runs.run_graph(run_dir)["nodes"]] == list(iris_mlp().nodes)
    assert json.loads((run_dir / "config.json").read_text())["epochs"] == 2


def test_listing_reads_state_epochs_best_and_checkpoints(tmp_path):
    store = tmp_path / "g.runs"
    first, second = store / "a", store / "b"
    train(iris_mlp(epochs=2), first)
    train(iris_mlp(epochs=1, optimizer={"name": "sgd", "lr": 1e12}), second)
    (store / "not-a-run").mkdir()
    listed = runs.list_runs(store)
    assert [r.path for r in listed] == [first, second]
    ok, diverged = listed
    assert (ok.state, ok.epochs, ok.total_epochs, ok.step) == ("finished", 2, 2, 16)
    assert ok.best["monitor"] == "val_loss" and ok.best_text().startswith("val_loss ")
    assert set(ok.checkpoints) == {"best", "last"} and ok.resumable and ok.seconds > 0
    assert diverged.state == "failed" and "NaN" in diverged.message


def test_a_killed_run_lists_as_running_until_resumed(tmp_path):
    run_dir = tmp_path / "g.runs" / "r"
    train(iris_mlp(epochs=1), run_dir)
    events = (run_dir / "events.jsonl").read_text().splitlines()
    # what a kill -9 leaves: the end status never written, the last line torn
    (run_dir / "events.jsonl").write_text("\n".join(events[:-1]) + '\n{"type": "st')
    (run_dir / "summary.json").unlink()
    info = runs.read_run(run_dir)
    assert info.state == "running" and "killed" in info.message


def test_rename_keeps_the_folder_and_delete_refuses_what_is_not_a_run(tmp_path):
    run_dir = tmp_path / "g.runs" / "r"
    train(iris_mlp(epochs=1), run_dir)
    runs.rename_run(run_dir, "  baseline lr 0.01 ")
    assert runs.read_run(run_dir).label == "baseline lr 0.01" and run_dir.is_dir()
    with pytest.raises(runs.RunStoreError):
        runs.rename_run(run_dir, "   ")
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("…")
    with pytest.raises(runs.RunStoreError, match="not a run folder"):
        runs.delete_run(precious)
    assert (precious / "thesis.tex").exists()
    runs.delete_run(run_dir)
    assert not run_dir.exists() and runs.list_runs(tmp_path / "g.runs") == []


def test_moving_an_unsaved_graphs_runs_rewrites_their_paths(tmp_path):
    unsaved, saved = tmp_path / "data" / "u.runs", tmp_path / "project" / "g.runs"
    train(iris_mlp(epochs=1), unsaved / "r1")
    (saved / "r1").mkdir(parents=True)  # a name already taken
    (saved / "r1" / "run.json").write_text("{}")
    moved = runs.move_runs(unsaved, saved)[(unsaved / "r1").resolve()]
    assert moved == saved / "r1-2" and not unsaved.exists()
    paths = [e["path"] for e in read_events(moved / "events.jsonl") if e["type"] == "checkpoint"]
    assert paths and all(p.startswith(str(moved) + "/") and Path(p).is_file() for p in paths)
    assert json.loads((moved / "summary.json").read_text())["run_dir"] == str(moved)


def test_a_damaged_run_folder_lists_without_failing(tmp_path, capsys):
    store = tmp_path / "g.runs"
    run_dir = store / "r"
    train(iris_mlp(epochs=1), run_dir)
    (run_dir / "run.json").write_text("[" * 5000 + "]" * 5000)  # nested beyond the JSON parser
    (run_dir / "summary.json").write_text('{"epochs": 10e400, "step": ' + "9" * 500 + ', "best": {"value": "x"}}')
    (run_dir / "config.json").write_text('{"epochs": -3}')
    with open(run_dir / "events.jsonl", "a") as events:
        events.write('{"type": "epoch", "epoch": "two", "seconds": 1e999}\n' + "[" * 5000 + "\n")
    (info,) = runs.list_runs(store)
    assert info.label == "r" and info.best is None and info.total_epochs is None and info.step == 0
    assert info.best_text() == "—" and info.state == "finished"
    graph = tmp_path / "g.json"
    save_document(iris_mlp(), graph)
    assert main(["runs", str(graph)]) == 0 and "r  " in capsys.readouterr().out


# -- any record lists: every field of run.json, summary.json, config.json and the events, drawn at random --
ODD_NUMBERS = [1e300, -1e300, -1e18, 1e308, -1e308, float("nan"), float("inf"), float("-inf"), -0.0, 0, -1, 0.5,
               2**53 + 1, 2**70, 10**400, 1.7e9, 253402300800.0, 1e11, -62135596800.0, 32536850000.0]
odd_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.sampled_from(ODD_NUMBERS), st.integers(), st.floats(),
              st.text(max_size=6), st.sampled_from(["\udc80", "val_accuracy", "finished", "failed", "x\x1b[2J"])),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(st.text(max_size=4), children,
                                                                                max_size=3)),
    max_leaves=6,
)


def fields(names: list[str]):
    """A JSON object holding some of `names`, each with an odd value (or the whole object an odd value)."""
    return st.one_of(st.dictionaries(st.sampled_from(names), odd_json, max_size=len(names)), odd_json)


def list_lines(store: Path) -> list[str]:
    """What `layerloom runs` and the app's run list format of each run (engine.commands.runs, app/training)."""
    from engine.commands.runs import _duration

    lines = []
    for r in runs.list_runs(store):
        seconds = int(round(r.seconds))
        total = f"/{r.total_epochs}" if r.total_epochs else ""
        lines.append(f"{r.name} {r.label} {r.date} {r.state:<8} epoch {r.epochs}{total} {r.best_text()} "
                     f"{_duration(r.seconds)} {seconds // 3600}:{seconds // 60 % 60:02d} {r.message}")
        row = {**asdict(r), "path": str(r.path), "checkpoints": {k: str(v) for k, v in r.checkpoints.items()}}
        json.loads(json.dumps(row, allow_nan=False))  # --json prints valid JSON
        for text in (r.label, r.message, r.date, r.best_text()):
            text.encode("utf-8")  # printable and showable as is
    return lines


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(fields(["label", "created", "graph_path"]),
                          fields(["state", "message", "epochs", "step", "best", "metrics"]),
                          fields(["epochs"]),
                          st.lists(fields(["type", "epoch", "seconds", "state", "message"]), max_size=3),
                          st.sampled_from(["epoch", "status"])),
                min_size=1, max_size=3))
def test_any_run_record_reads_and_lists_every_run(records):
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "g.runs"
        for i, (meta, summary, config, events, kind) in enumerate(records):
            run_dir = store / f"r{i}"
            run_dir.mkdir(parents=True)
            for name, data in (("run.json", meta), ("summary.json", summary), ("config.json", config)):
                (run_dir / name).write_text(json.dumps(data))  # NaN and Infinity as Python's json writes them
            lines = [json.dumps({"type": kind, **e} if isinstance(e, dict) else e) for e in events]
            (run_dir / "events.jsonl").write_text("\n".join(lines) + "\n")
        lines = list_lines(store)
        assert len(lines) == len(records)
        for r in runs.list_runs(store):
            assert math.isfinite(r.created) and math.isfinite(r.seconds) and r.seconds >= 0
            assert r.date == runs.UNKNOWN_DATE or re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", r.date)


def test_a_run_whose_dates_and_durations_are_out_of_range_lists_with_the_others(tmp_path, capsys):
    """Found by a tester: `created` 1e300 or -1e18, an epoch of 1e308 seconds (OverflowError, OSError)."""
    store = tmp_path / "g.runs"
    for name, created in [("big", 1e300), ("negative", -1e18), ("nan", float("nan")), ("fine", 1.7e9)]:
        (store / name).mkdir(parents=True)
        (store / name / "run.json").write_text(json.dumps({"created": created, "label": name}))
        (store / name / "events.jsonl").write_text(
            '{"type": "epoch", "epoch": 1, "seconds": 1e308}\n{"type": "epoch", "epoch": 2, "seconds": 1e308}\n')
    listed = {r.name: r for r in runs.list_runs(store)}
    assert set(listed) == {"big", "negative", "nan", "fine"} and listed["fine"].date.startswith("2023-11-1")
    assert all(r.seconds == 0 and r.epochs == 2 for r in listed.values())
    assert runs.RunInfo(store, "x", 1e300, "finished", "", 0, None, 0, None, {}, 0.0, {}).date == "date ?"
    assert runs.RunInfo(store, "x", -1e18, "finished", "", 0, None, 0, None, {}, 0.0, {}).date == "date ?"
    save_document(iris_mlp(), tmp_path / "g.json")
    assert main(["runs", str(tmp_path / "g.json")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("4 runs in ") and all(f"  {name}" in out for name in listed)
