"""Small graphs and a one-call trainer for the training tests (iris: 120 training samples, fast)."""

from __future__ import annotations

from pathlib import Path

import torch

from engine.document import Edge, GraphDocument
from engine.fileformat import load_document
from engine.train import read_events, train

torch.set_num_threads(1)  # the test machine's cores are shared

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"
GRAPHS = Path(__file__).resolve().parent / "graphs"  # graphs kept for the tests, whatever the templates become


def iris_mlp(input_shape=(4,), **training) -> GraphDocument:
    """Input (4,) → Linear 16 → ReLU → Linear 3 → Output, CrossEntropyLoss against Target ()."""
    doc = GraphDocument("iris mlp")
    doc.add_node("Input", {"shape": list(input_shape), "dtype": "float32"}, node_id="input1")
    doc.add_node("Linear", {"out_features": 16}, node_id="fc1")
    doc.add_node("ReLU", node_id="relu1")
    doc.add_node("Linear", {"out_features": 3}, node_id="fc2")
    doc.add_node("Output", node_id="output1")
    doc.add_node("Target", {"shape": [], "dtype": "int64"}, node_id="target1")
    doc.add_node("CrossEntropyLoss", node_id="loss1")
    for edge in [("input1", "out", "fc1", "in"), ("fc1", "out", "relu1", "in"), ("relu1", "out", "fc2", "in"),
                 ("fc2", "out", "output1", "in"), ("fc2", "out", "loss1", "pred"),
                 ("target1", "out", "loss1", "target")]:
        doc.add_edge(Edge(*edge))
    doc.training = {"dataset": {"name": "iris"}, "optimizer": {"name": "adam", "lr": 0.01}, "epochs": 2,
                    "batch_size": 16, "device": "cpu", **training}
    return doc


def example(name: str, **training) -> GraphDocument:
    """An example graph from resources/examples, on the CPU, with `training` settings overridden."""
    doc = load_document(EXAMPLES / f"{name}.json")
    doc.training.update({"device": "cpu", **training})
    return doc


def small_graph(name: str, **training) -> GraphDocument:
    """A graph from tests/engine/graphs (small MLPs the tests write by hand too), like `example`."""
    doc = load_document(GRAPHS / f"{name}.json")
    doc.training.update({"device": "cpu", **training})
    return doc


def run(doc: GraphDocument, run_dir: Path, **kwargs):
    """Train and return (RunResult, the events of events.jsonl)."""
    result = train(doc, run_dir, **kwargs)
    return result, read_events(Path(run_dir) / "events.jsonl")


def of_type(events: list[dict], kind: str) -> list[dict]:
    return [e for e in events if e["type"] == kind]
