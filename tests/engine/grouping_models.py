"""Small plain-PyTorch networks whose ONNX exports repeat a structure: a ResNet-like stack of basic blocks
(widths and strides differ, some blocks downsample) and a transformer-like encoder of identical layers."""

from __future__ import annotations

import torch
from torch import nn


class Basic(nn.Module):
    """ResNet's basic block; a 1×1 convolution on the shortcut where the width or the stride changes."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)) \
            if stride != 1 or cin != cout else None

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + (x if self.down is None else self.down(x)))


class SmallResNet(nn.Module):
    """Stem, then three stages of two basic blocks (8, 16, 32 channels; the later stages halve the map)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        blocks, cin = [], 8
        for cout, stride in ((8, 1), (16, 2), (32, 2)):
            blocks += [Basic(cin, cout, stride), Basic(cout, cout, 1)]
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(self.blocks(self.stem(x)), 1), 1))


class Layer(nn.Module):
    """A post-norm transformer encoder layer: self-attention and an MLP, each added back and normalised."""

    def __init__(self, width: int = 16, heads: int = 2):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.fc1, self.fc2 = nn.Linear(width, 2 * width), nn.Linear(2 * width, width)

    def forward(self, x):
        x = self.ln1(x + self.attn(x, x, x, need_weights=False)[0])
        return self.ln2(x + self.fc2(torch.relu(self.fc1(x))))


class SmallEncoder(nn.Module):
    """An input projection, four identical layers and a head on the mean of the sequence."""

    def __init__(self, layers: int = 4):
        super().__init__()
        self.embed = nn.Linear(8, 16)
        self.layers = nn.Sequential(*(Layer() for _ in range(layers)))
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        return self.head(self.layers(self.embed(x)).mean(dim=1))


def residual_chain(units: int, widths: tuple[int, ...] = (32,)):
    """A graph of `units` × 5 layers as an importer writes it: fc1 (the unit's width) → relu → fc2 (16), added
    to the unit's input, then LayerNorm — the units' widths cycle through `widths`."""
    from engine.document import Edge, GraphDocument

    doc = GraphDocument("chain")
    doc.add_node("Input", {"shape": [16]}, node_id="input1")
    stream = ("input1", "out")
    for k in range(units):
        fc1, relu, fc2, add, norm = (f"u{k}_{name}" for name in ("fc1", "relu", "fc2", "add", "norm"))
        doc.add_node("Linear", {"out_features": widths[k % len(widths)]}, node_id=fc1)
        doc.add_node("ReLU", node_id=relu)
        doc.add_node("Linear", {"out_features": 16}, node_id=fc2)
        doc.add_node("Add", node_id=add)
        doc.add_node("LayerNorm", node_id=norm)
        for edge in (Edge(*stream, fc1, "in"), Edge(fc1, "out", relu, "in"), Edge(relu, "out", fc2, "in"),
                     Edge(fc2, "out", add, "a"), Edge(*stream, add, "b"), Edge(add, "out", norm, "in")):
            doc.add_edge(edge)
        stream = (norm, "out")
    doc.add_node("Output", node_id="output1")
    doc.add_edge(Edge(*stream, "output1", "in"))
    return doc
