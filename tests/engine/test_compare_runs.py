"""Compare two runs: what differed (settings, structure), curves, final metrics, how far weights moved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main
from engine.experiments.compare import compare_runs, resolve_run
from engine.fileformat import load_document, save_document
from engine.runs import RunStoreError, new_run_dir, rename_run, store_for
from engine.train.loop import train

MLP = Path(__file__).resolve().parents[2] / "resources" / "examples" / "digits_mlp.json"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The digits MLP trained twice, the second with another learning rate and another dropout."""
    folder = tmp_path_factory.mktemp("compare")
    graph = folder / "mlp.json"
    doc = load_document(MLP)
    save_document(doc, graph)
    made = []
    for lr, p in ((0.003, 0.1), (0.01, 0.3)):
        doc.training["optimizer"]["lr"] = lr
        doc.set_param("dropout1", "p", p)
        run_dir = new_run_dir(store_for(graph), f"lr{lr}", graph)
        assert train(doc, run_dir, epochs=2, base_dir=folder, graph_path=graph).state == "finished"
        made.append(run_dir)
    return graph, made


def test_one_setting_and_one_node_are_reported_as_exactly_that(two_runs):
    _, (a, b) = two_runs
    result = compare_runs(a, b)
    assert result.settings == [{"key": "optimizer.lr", "a": 0.003, "b": 0.01}]
    assert result.nodes_changed == [{"id": "dropout1", "type": None, "params": {"p": [0.1, 0.3]}}]
    assert not (result.nodes_added or result.nodes_removed or result.edges_added or result.edges_removed)
    assert result.same_structure
    assert result.curves["a"]["epoch"] == [1, 2] and len(result.curves["b"]["val_loss"]) == 2
    assert result.final["b"]["val_accuracy"] == result.curves["b"]["val_accuracy"][-1]
    assert set(result.weights) == {"fc1", "fc2"} and all(d > 0.01 for d in result.weights.values())
    assert result.weights_note == "best checkpoints"


def test_a_run_compared_with_itself_differs_in_nothing(two_runs):
    _, (a, _) = two_runs
    result = compare_runs(a, a)
    assert result.settings == [] and result.nodes_changed == [] and result.same_structure
    assert result.weights == {"fc1": 0.0, "fc2": 0.0}


def test_another_structure_lists_the_nodes_and_wires_and_skips_weights(two_runs, tmp_path):
    graph, (a, _) = two_runs
    doc = load_document(graph)
    doc.remove_node("dropout1")
    doc.add_edge(("relu1", "out", "fc2", "in"))
    run_dir = tmp_path / "pruned"
    assert train(doc, run_dir, epochs=1, base_dir=graph.parent).state == "finished"
    result = compare_runs(a, run_dir)
    assert result.nodes_removed == [{"id": "dropout1", "type": "Dropout"}]
    assert result.edges_added == ["relu1.out → fc2.in"]
    assert set(result.edges_removed) == {"relu1.out → dropout1.in", "dropout1.out → fc2.in"}
    assert result.weights is None and "structures differ" in result.weights_note


def test_runs_are_named_by_folder_label_or_path(two_runs):
    graph, (a, b) = two_runs
    store = store_for(graph)
    rename_run(b, "faster")
    assert resolve_run(store, a.name) == a
    assert resolve_run(store, "faster") == b
    assert resolve_run(store, str(b)) == b
    with pytest.raises(RunStoreError, match="neither a run folder nor the name of a run"):
        resolve_run(store, "nope")


def test_cli_compare_text_and_json(two_runs, capsys):
    graph, (a, b) = two_runs
    assert main(["runs", str(graph), "--compare", a.name, b.name]) == 0
    out = capsys.readouterr().out
    assert "settings that differ (1):\n  optimizer.lr: 0.003 → 0.01" in out
    assert "structure that differs (1):\n  ~ dropout1: p 0.1 → 0.3" in out
    assert "weights moved from A to B" in out and "fc1" in out
    assert main(["runs", str(graph), "--compare", str(a), str(b), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["same_structure"] and data["settings"][0]["key"] == "optimizer.lr"
    assert main(["runs", str(graph), "--compare", a.name, "missing"]) == 1
    assert "'missing' is neither a run folder" in capsys.readouterr().err
