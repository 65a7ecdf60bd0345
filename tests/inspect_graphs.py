"""Graphs the telemetry tests share (engine and GUI): a value that reaches zero at a step torch can predict.

`sqrt_collapse(folder)`: x ≡ 1 and y ≡ 0 (an .npz), fc1 (Linear 1→1, started from w = 0.5, b = 0.5 by
init_weights) → sqrt1 (Sqrt) → L1Loss against 0, trained by SGD with momentum. The loss is √(w + b), so
every step lowers u = w + b, faster and faster; the first step whose u is negative makes sqrt1's output
NaN (in the third epoch, after two checkpoints). `nan_step` finds that step with torch alone, the oracle
the run is checked against.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from engine.document import Edge, GraphDocument

EXAMPLES = Path(__file__).resolve().parents[1] / "resources" / "examples"
LR, MOMENTUM = 0.02, 0.9
SAMPLES, BATCH = 40, 8  # 32 training samples after the 20 % validation split: 4 steps an epoch


def sqrt_collapse(folder: Path, epochs: int = 20, lr: float = LR) -> GraphDocument:
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "ones.npz", x=np.ones((SAMPLES, 1), np.float32), y=np.zeros((SAMPLES, 1), np.float32))
    save_file({"fc1.weight": torch.tensor([[0.5]]), "fc1.bias": torch.tensor([0.5])}, folder / "start.safetensors")
    doc = GraphDocument("sqrt collapse")
    doc.add_node("Input", {"shape": [1], "dtype": "float32"}, node_id="input1", position=(0.0, 0.0))
    doc.add_node("Linear", {"out_features": 1}, node_id="fc1", position=(270.0, 0.0))
    doc.add_node("Sqrt", node_id="sqrt1", position=(540.0, 0.0))
    doc.add_node("Output", node_id="output1", position=(810.0, 0.0))
    doc.add_node("Target", {"shape": [1], "dtype": "float32"}, node_id="target1", position=(540.0, 230.0))
    doc.add_node("L1Loss", node_id="loss1", position=(810.0, 230.0))
    for edge in [("input1", "out", "fc1", "in"), ("fc1", "out", "sqrt1", "in"), ("sqrt1", "out", "output1", "in"),
                 ("sqrt1", "out", "loss1", "pred"), ("target1", "out", "loss1", "target")]:
        doc.add_edge(Edge(*edge))
    doc.training = {"dataset": {"name": "npz", "path": str(folder / "ones.npz"), "normalize": False},
                    "optimizer": {"name": "sgd", "lr": lr, "momentum": MOMENTUM}, "epochs": epochs, "batch_size": BATCH,
                    "device": "cpu", "init_weights": str(folder / "start.safetensors")}
    return doc


def nan_step(lr: float = LR) -> int:
    """The first step whose forward pass takes the square root of a negative number (1-based)."""
    w, b = torch.tensor(0.5, requires_grad=True), torch.tensor(0.5, requires_grad=True)
    optimizer = torch.optim.SGD([w, b], lr=lr, momentum=MOMENTUM)
    for step in range(1, 10_000):
        loss = (w + b).sqrt()
        if loss.isnan():
            return step
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    raise AssertionError("the value never crossed zero")


def dead_relu(folder: Path, epochs: int = 1) -> GraphDocument:
    """The digits MLP template whose fc1 starts with a bias of −100: relu1 gives zeros only (dead)."""
    from engine.fileformat import load_document

    folder.mkdir(parents=True, exist_ok=True)
    save_file({"fc1.bias": torch.full((128,), -100.0)}, folder / "dead.safetensors")
    doc = load_document(EXAMPLES / "digits_mlp.json")
    doc.training.update({"epochs": epochs, "device": "cpu", "init_weights": str(folder / "dead.safetensors")})
    return doc
