"""`layerloom train`: exit codes, output, run folder, Ctrl+C handling (in-process: no torch re-import)."""

import json
import signal
import threading

import pytest
from train_harness import iris_mlp

from engine.cli import main
from engine.commands.train import _install_sigint
from engine.fileformat import save_document
from engine.runs import read_run
from engine.train.events import read_events


def test_train_command_prints_final_metrics_and_writes_the_run(tmp_path, capsys):
    graph = tmp_path / "iris.json"
    save_document(iris_mlp(), graph)
    out = tmp_path / "run"
    assert main(["train", str(graph), "--epochs", "1", "--device", "cpu", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "finished 1 epochs" in printed and "val_accuracy" in printed and str(out) in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 1
    # the best checkpoint's validation accuracy, the figure the app's Results show for it (issue 23)
    (epoch,) = [e for e in read_events(out / "events.jsonl") if e["type"] == "epoch"]
    assert summary["best"]["val_accuracy"] == epoch["val_accuracy"]
    assert f"at epoch 1, val_accuracy {epoch['val_accuracy']:.1%}" in printed
    assert read_run(out).best["val_accuracy"] == epoch["val_accuracy"]

    assert main(["train", str(graph), "--epochs", "2", "--out", str(out), "--resume"]) == 0
    assert json.loads((out / "summary.json").read_text())["step"] == 16


def test_unreadable_file_exits_2_and_a_failed_run_exits_1(tmp_path, capsys):
    assert main(["train", str(tmp_path / "missing.json")]) == 2
    bad = tmp_path / "bad.json"
    save_document(iris_mlp(input_shape=(7,)), bad)
    assert main(["train", str(bad), "--out", str(tmp_path / "run")]) == 1
    assert "input1 (Input)" in capsys.readouterr().err


def test_diverged_run_exits_1(tmp_path, capsys):
    graph = tmp_path / "hot.json"
    save_document(iris_mlp(optimizer={"name": "sgd", "lr": 1e12}), graph)
    assert main(["train", str(graph), "--out", str(tmp_path / "run")]) == 1
    assert "NaN" in capsys.readouterr().err


def test_without_out_a_run_lands_in_the_graphs_store_whatever_the_current_folder(tmp_path, monkeypatch, capsys):
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir(), elsewhere.mkdir()
    save_document(iris_mlp(), project / "my mlp.json")
    monkeypatch.chdir(project)
    assert main(["train", "my mlp.json", "--epochs", "1"]) == 0  # a relative path
    monkeypatch.chdir(elsewhere)
    assert main(["train", str(project / "my mlp.json"), "--epochs", "1"]) == 0  # an absolute one
    store = project / "my mlp.runs"
    runs = sorted(store.iterdir())
    assert len(runs) == 2 and all(run.name.startswith("my-mlp-") for run in runs)
    assert not list(elsewhere.iterdir())  # nothing written where the command was started
    for run in runs:
        assert {"graph.json", "config.json", "data.json", "run.json", "last.safetensors"} <= \
            {p.name for p in run.iterdir()}
        checkpoint_paths = [e["path"] for e in read_events(run / "events.jsonl") if e["type"] == "checkpoint"]
        assert checkpoint_paths and all(path.startswith(str(run) + "/") for path in checkpoint_paths)
    capsys.readouterr()
    assert main(["runs", str(project / "my mlp.json")]) == 0
    listed = capsys.readouterr().out
    assert "2 runs" in listed and all(run.name in listed for run in runs) and "finished" in listed


def test_first_ctrl_c_requests_a_stop_and_the_second_aborts():
    stop = threading.Event()
    previous = _install_sigint(stop)
    try:
        signal.raise_signal(signal.SIGINT)
        assert stop.is_set()
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_bad_training_setting_names_the_file_and_the_field_once(tmp_path, capsys):
    graph = tmp_path / "bad.json"
    save_document(iris_mlp(epochs=0), graph)
    assert main(["train", str(graph)]) == 1
    err = capsys.readouterr().err
    assert f"error: {graph}: training.epochs: must be ≥ 1" in err
    assert err.count("training.epochs") == 1 and "Traceback" not in err


def test_an_autoencoder_without_an_output_node_trains_its_loss_instead_of_crashing(tmp_path):
    """Its kind looked for the prediction among the (no) outputs at the first epoch's end: IndexError."""
    from pathlib import Path

    graph = json.loads((Path(__file__).parents[2] / "resources/examples/digits_autoencoder.json").read_text())
    outputs = {n["id"] for n in graph["nodes"] if n["type"] == "Output"}
    graph["nodes"] = [n for n in graph["nodes"] if n["id"] not in outputs]
    graph["edges"] = [e for e in graph["edges"] if e["to"].split(".")[0] not in outputs]
    graph["training"]["epochs"] = 1
    path = tmp_path / "no_output.json"
    path.write_text(json.dumps(graph))
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 0
    states = [e["state"] for e in read_events(tmp_path / "run" / "events.jsonl") if e["type"] == "status"]
    assert states[-1] == "finished"
