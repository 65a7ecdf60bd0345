"""Valid means trainable: what would fail a run is a diagnostic before it, or handled in it with a warning."""

import re

import pytest
import torch
from train_harness import iris_mlp, of_type, run, small_graph

import engine.trainability
from engine.cli import main
from engine.compile import compile_graph
from engine.document import Edge, GraphDocument
from engine.errors import ConfigError, ExportError, GraphInvalid
from engine.export.onnx_export import MAX_SAMPLE_VALUES, SampleMaker, export_onnx
from engine.fileformat import save_document
from engine.stats import graph_stats
from engine.trainability import ABSURD_MEMORY_FACTOR, trainability
from engine.validate import validate

GiB = 2**30


def chain(*layers, input_shape=(4,), loss=True, name="chain") -> GraphDocument:
    """Input → layers… → Output, plus CrossEntropyLoss against an iris Target when `loss`."""
    doc = GraphDocument(name)
    doc.add_node("Input", {"shape": list(input_shape)}, node_id="input1")
    previous = "input1"
    for node_id, type_id, params in layers:
        doc.add_node(type_id, params, node_id=node_id)
        doc.add_edge(Edge(previous, "out", node_id, "in"))
        previous = node_id
    doc.add_node("Output", node_id="output1")
    doc.add_edge(Edge(previous, "out", "output1", "in"))
    if loss:
        doc.add_node("Target", {"shape": [], "dtype": "int64"}, node_id="target1")
        doc.add_node("CrossEntropyLoss", node_id="loss1")
        doc.add_edge(Edge(previous, "out", "loss1", "pred"))
        doc.add_edge(Edge("target1", "out", "loss1", "target"))
    doc.training = iris_mlp().training
    return doc


def batch_norm_mlp(**training) -> GraphDocument:
    doc = chain(("fc1", "Linear", {"out_features": 16}), ("bn1", "BatchNorm1d", {}), ("relu1", "ReLU", {}),
                ("fc2", "Linear", {"out_features": 3}))
    doc.training.update(training)
    return doc


def huge() -> GraphDocument:
    """Two Linear layers of a million features: 10¹² weights, ≈ 14,902 GiB to train with Adam."""
    return chain(("fc1", "Linear", {"out_features": 1_000_000}), ("fc2", "Linear", {"out_features": 1_000_000}),
                 ("fc3", "Linear", {"out_features": 3}))


@pytest.fixture
def ram_16_gib(monkeypatch):
    monkeypatch.setattr(engine.trainability, "machine_memory", lambda device: (16 * GiB, "RAM"))


# -- batch statistics -------------------------------------------------------------------------------

def test_a_last_batch_of_one_sample_is_left_out_when_batch_norm_would_refuse_it(tmp_path):
    """iris trains on 120 samples: batch 17 leaves 1 over, which BatchNorm1d on (N, 16) cannot train on."""
    result, events = run(batch_norm_mlp(batch_size=17, epochs=2), tmp_path)
    assert (result.state, result.step) == ("finished", 2 * 7)
    assert of_type(events, "started")[0]["steps_per_epoch"] == 7
    (warning,) = of_type(events, "warning")  # said once, not every epoch
    assert "bn1" in warning["message"] and "left out" in warning["message"] and "119 of 120" in warning["message"]
    assert events.index(warning) == events.index(of_type(events, "started")[0]) + 1


def test_batch_norm_keeps_every_batch_when_none_would_hold_one_sample(tmp_path):
    result, events = run(batch_norm_mlp(batch_size=16, epochs=1), tmp_path)
    assert result.step == 8 and not of_type(events, "warning")


def test_batch_size_one_into_batch_norm_is_refused_before_any_step(tmp_path, capsys):
    with pytest.raises(GraphInvalid, match=r"bn1: normalises each channel over the batch.*batch size of 2"):
        run(batch_norm_mlp(batch_size=1), tmp_path)
    path = tmp_path / "bn.json"
    save_document(batch_norm_mlp(), path)
    assert main(["validate", str(path), "--batch-size", "1"]) == 1
    assert "error: bn1: normalises each channel over the batch" in capsys.readouterr().out
    assert main(["validate", str(path), "--batch-size", "2"]) == 0


def test_batch_norm_over_a_sequence_has_more_than_one_value_per_channel():
    doc = chain(("bn1", "BatchNorm1d", {}), ("flat1", "Flatten", {}), ("fc1", "Linear", {"out_features": 3}),
                input_shape=(4, 5))
    report = validate(doc)
    assert engine.trainability.single_sample_fails(doc, report) == []
    assert not trainability(doc, report, graph_stats(doc, report, 1), "cpu")


# -- weights --------------------------------------------------------------------------------------

def weightless() -> GraphDocument:
    return chain(("slice1", "Slice", {"dim": -1, "end": 3}), name="no weights")


def test_a_graph_without_weights_is_refused_before_any_run(tmp_path):
    with pytest.raises(GraphInvalid, match="nothing to train: no node of 'no weights' has weights"):
        run(weightless(), tmp_path)
    assert not (tmp_path / "last.json").exists()


def test_validate_warns_that_a_graph_without_weights_has_nothing_to_train(tmp_path, capsys):
    path = tmp_path / "plain.json"
    save_document(weightless(), path)
    assert main(["validate", str(path)]) == 0  # it still exports
    assert "warning: nothing to train" in capsys.readouterr().out


def test_a_gan_network_without_weights_is_named(tmp_path):
    doc = small_graph("mlp_gan", epochs=1)
    for node_id in ("gen_fc1", "gen_act1", "gen_fc2", "gen_act2", "gen_fc3"):
        doc.remove_node(node_id)
    doc.set_param("noise", "shape", [64])
    doc.add_edge(Edge("noise", "out", "gen_reshape", "in"))
    with pytest.raises(ConfigError, match=r"training.gan.generator: nothing to train — no node on the way to fake"):
        run(doc, tmp_path)


# -- memory ---------------------------------------------------------------------------------------

def test_a_graph_far_beyond_the_machine_is_invalid_and_names_its_largest_node(tmp_path, capsys, ram_16_gib):
    path = tmp_path / "huge.json"
    save_document(huge(), path)
    assert main(["validate", str(path)]) == 1
    assert re.search(rf"error: training at batch size 32 needs ≈ 1490\d\.\d GiB, over {ABSURD_MEMORY_FACTOR}× this "
                     r"machine's 16.0 GiB of RAM \(fc2 alone ≈ 1490\d\.\d GiB\) — lower the batch size or make fc2 "
                     r"smaller", capsys.readouterr().out)


def test_training_refuses_it_before_building_a_layer(tmp_path, monkeypatch, ram_16_gib):
    import engine.train.setup as train_setup

    monkeypatch.setattr(train_setup, "compile_graph", lambda *a, **k: pytest.fail("compiled a 15 TiB graph"))
    with pytest.raises(GraphInvalid, match="needs ≈ 1490"):
        run(huge(), tmp_path)


def test_memory_beyond_the_machine_but_not_absurdly_is_a_warning(tmp_path, monkeypatch, capsys):
    doc = iris_mlp(epochs=1)
    need = graph_stats(doc, validate(doc), 16).training_memory_bytes
    monkeypatch.setattr(engine.trainability, "machine_memory", lambda device: (need // 2, "RAM"))
    result, events = run(doc, tmp_path)
    assert result.state == "finished"
    assert "more than this machine's" in of_type(events, "warning")[0]["message"]
    path = tmp_path / "mlp.json"
    save_document(doc, path)
    assert main(["validate", str(path), "--batch-size", "16"]) == 0
    assert "warning: training at batch size 16 needs" in capsys.readouterr().out


def test_machine_memory_is_the_ram_on_the_cpu():
    have, kind = engine.trainability.machine_memory("cpu")
    assert kind == "RAM" and have > GiB


# -- time per step ----------------------------------------------------------------------------------

def test_a_run_whose_steps_would_take_minutes_says_so_in_its_log_and_still_trains(tmp_path, monkeypatch):
    """The trainer checks the same estimate before its first step (here a machine that takes 100 s a layer)."""
    import engine.step_time
    from engine.step_time import Calibration

    glacial = Calibration("cpu", 1e9, 1e9, 0.0, 0.0, 100.0, 0.0, {}, {})
    monkeypatch.setattr(engine.step_time, "calibration", lambda device="auto": glacial)
    result, events = run(iris_mlp(epochs=1), tmp_path)
    assert result.state == "finished"
    (warning,) = [w for w in of_type(events, "warning") if "training step" in w["message"]]
    assert re.search(r"one training step would take about [\d.]+ min on this CPU at batch size 16 — \w+ \(\w+\) "
                     r"alone ≈ 1\.7 min \(.* multiply-adds\); lower the batch size or make \w+ smaller, or train "
                     r"on a GPU", warning["message"])


# -- export examples --------------------------------------------------------------------------------

def test_export_refuses_a_sample_too_big_to_check_before_allocating_it(tmp_path, monkeypatch):
    """(N, 100000, 100000) float32: 40 GB a sample, 80 GB for the export's example batch of 2."""
    doc = chain(("relu1", "ReLU", {}), input_shape=(100_000, 100_000), loss=False)
    compiled = compile_graph(doc, with_loss=False)
    monkeypatch.setattr(torch, "randn", lambda *a, **k: pytest.fail("allocated the example"))
    with pytest.raises(ExportError, match=r"input1 \(Input\): one sample of \(N, 100000, 100000\) holds "
                                          r"10,000,000,000 values"):
        SampleMaker(doc, compiled)
    with pytest.raises(ExportError, match=f"at most {MAX_SAMPLE_VALUES:,} values"):
        export_onnx(doc, tmp_path / "huge.onnx")
