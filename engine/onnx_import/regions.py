"""Subgraphs that stand for one Layerloom layer, proven equal on sample data.

Exporters spell one layer as many ONNX ops, and the ops between them often move the batch axis
(torch's MultiheadAttention works sequence-first and folds heads into the batch; a GRU op takes
(T, N, features)). Such ops have no batch-first Layerloom node of their own, but the region as a
whole does. A matcher (attention.py, recurrent.py) proposes where a region starts (tensor `x`)
and ends (`y`); the region is every node on a path from x to y, and it must be closed — reading
nothing but x and constants, and no tensor of it read from outside but y. Then onnxruntime runs it
on a random sample and the candidate Layerloom layer must give the same values: the proof does not
depend on how an exporter arranged the transposes and reshapes in between.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property

import networkx as nx
import numpy as np

from .loading import SIZE_OPS, OnnxNode, PreparedModel

SAMPLE_BATCH = 2
RTOL, ATOL = 1e-4, 1e-5
LAYOUT_OPS = {"Transpose", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Flatten"}
ROOT = -1  # the dataflow graph's root, before every graph input; graph input k is node -2 - k


@dataclass
class Region:
    """ONNX nodes (by index) that `emit` replaces with Layerloom nodes; emitted at the `last` one."""

    members: frozenset[int]
    last: int
    emit: Callable


class Dataflow:
    """Who produces and who reads each tensor of a prepared model."""

    def __init__(self, model: PreparedModel):
        self.model = model
        self.producer = {out: i for i, node in enumerate(model.nodes) for out in node.outputs if out}
        self.consumers: dict[str, list[int]] = {}
        for i, node in enumerate(model.nodes):
            for name in dict.fromkeys(node.inputs):
                if name:
                    self.consumers.setdefault(name, []).append(i)

    @cached_property
    def graph(self) -> nx.DiGraph:
        """Nodes by index, graph inputs as nodes -2, -3, … after ROOT; an edge per tensor read."""
        graph = nx.DiGraph()
        graph.add_nodes_from(range(len(self.model.nodes)))
        graph.add_edges_from((ROOT, -2 - k) for k in range(len(self.model.inputs)))
        for name, readers in self.consumers.items():
            source = self.producer.get(name, self.input_node(name))
            if source is not None:
                graph.add_edges_from((source, reader) for reader in readers)
        return graph

    def input_node(self, name: str) -> int | None:
        """The dataflow node of graph input `name`, None for any other tensor."""
        return -2 - self.model.inputs.index(name) if name in self.model.inputs else None

    @cached_property
    def dominators(self) -> dict[int, int]:
        """Each node's immediate dominator: the nearest node every path from the inputs passes. Reads of the batch
        size carry no values (a head split's `Shape(input)[0]` reads the graph input, not the layer before), so no
        path runs through them."""
        if ROOT not in self.graph:
            return {}
        values = self.graph.copy()
        values.remove_edges_from([(i, j) for i in self.batch_sized for j in self.graph.successors(i)])
        return nx.immediate_dominators(values, ROOT)

    def tensor_of(self, node: int) -> str:
        """The (first) tensor a dataflow node stands for: a graph input's name, or a node's output."""
        return self.model.inputs[-2 - node] if node < ROOT else self.model.nodes[node].outputs[0]

    def readers(self, name: str) -> list[int]:
        """The nodes reading `name` as data (size queries excluded)."""
        return [i for i in self.consumers.get(name, []) if self.model.nodes[i].op not in SIZE_OPS]

    def rank(self, name: str) -> int | None:
        shape = self.model.shapes.get(name)
        return None if shape is None else len(shape)

    @cached_property
    def batch_sized(self) -> set[int]:
        """Nodes computed from constants and the batch size alone: `Shape(t, start=0, end=1)` and what
        is computed from it (zeros of shape (layers, N, H) for a recurrent op's initial state)."""
        found: set[int] = set()
        for i, node in enumerate(self.model.nodes):
            present = [name for name in node.inputs if name]
            if node.op == "Shape":
                if (node.attrs.get("start", 0), node.attrs.get("end")) == (0, 1):
                    found.add(i)
            elif present and all(n in self.model.constants or self.producer.get(n) in found for n in present):
                found.add(i)
        return found

    def region(self, x: str, y: str) -> frozenset[int] | None:
        """The closed region of nodes on paths from `x` to `y`, or None when it is not closed. It may
        read the batch size of any tensor: every tensor shares it with x."""
        if y not in self.producer:
            return None
        after_x = set()
        for reader in self.consumers.get(x, []):
            after_x |= {reader} | nx.descendants(self.graph, reader)
        end = self.producer[y]
        members = ({end} | nx.ancestors(self.graph, end)) & after_x
        if end not in members:
            return None
        readable = members | self.batch_sized
        for i in members:
            node = self.model.nodes[i]
            if any(name and name != x and name not in self.model.constants and self.producer.get(name) not in readable
                   for name in node.inputs):
                return None  # reads something besides x, constants and batch sizes
            if any(name != y and (name in self.model.outputs or not set(self.consumers.get(name, [])) <= members)
                   for name in node.outputs if name):
                return None  # something outside reads an inner tensor
        return frozenset(members)

    def run(self, members: frozenset[int], x: str, y: str, sample: np.ndarray) -> np.ndarray:
        """Evaluate the region on `sample`, its batch sizes read from the sample."""
        feeders, todo = set(), [n for i in members for n in self.model.nodes[i].inputs if n]
        while todo:
            index = self.producer.get(todo.pop())
            if index is not None and index not in members | feeders and index in self.batch_sized:
                feeders.add(index)
                todo += [n for n in self.model.nodes[index].inputs if n]
        protos = []
        for i in sorted(members | feeders):
            proto = self.model.nodes[i].proto
            if i in feeders and proto.op_type == "Shape":
                proto = type(proto)()
                proto.CopyFrom(self.model.nodes[i].proto)
                proto.input[0] = x  # the same batch size
            protos.append(proto)
        constants = {n for proto in protos for n in proto.input if n in self.model.constants}
        return evaluate(protos, x, y, sample, {n: self.model.constants[n] for n in constants}, self.model.opsets)

    def sample(self, name: str, seed: int = 0) -> np.ndarray:
        """Random float32 values of `name`'s shape (a symbolic size, the batch, becomes SAMPLE_BATCH)."""
        dims = [d if isinstance(d, int) else SAMPLE_BATCH for d in self.model.shapes[name]]
        return np.random.default_rng(seed).standard_normal(dims).astype(np.float32)


def named(flow: Dataflow, members: frozenset[int], anchor: OnnxNode) -> OnnxNode:
    """`anchor` with the module path all of the region's nodes share (`lstm1` around `lstm1/rnn/LSTM`),
    so the Layerloom node is named after the whole layer."""
    scopes = [flow.model.nodes[i].scope for i in members if flow.model.nodes[i].scope]
    common = tuple(os.path.commonprefix(scopes)) if scopes else ()
    return replace(anchor, scope=common or anchor.scope)


def evaluate(protos: list, x: str, y: str, sample: np.ndarray, constants: dict[str, np.ndarray],
             opsets: dict[str, int]) -> np.ndarray:
    """Run ONNX nodes reading `x` (and constants) with onnxruntime and return `y`."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        protos, "region", [helper.make_tensor_value_info(x, TensorProto.FLOAT, sample.shape)],
        [helper.make_tensor_value_info(y, TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.asarray(value), name) for name, value in constants.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()])
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: a region that fails to load is just not proven
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run([y], {x: sample})[0]


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=RTOL, atol=ATOL))


def first_proven(flow: Dataflow, xs: list[str], ys: list[str], propose) -> Region | str:
    """The first (x, y) pair, widest first, whose closed region `propose(x, y, members, output)`
    turns into a Region (it returns a reason string when it cannot); else the last reason."""
    reason = "no closed region around it reads one batch-first tensor"
    for x in xs:
        for y in ys:
            members = flow.region(x, y)
            if members is None:
                continue
            try:
                output = flow.run(members, x, y, flow.sample(x))
            except Exception:  # noqa: BLE001 — an op onnxruntime lacks, or a malformed node: unproven
                continue
            found = propose(x, y, members, output)
            if isinstance(found, Region):
                return found
            reason = found
    return reason


def chain_back(flow: Dataflow, name: str, passes: Callable[[OnnxNode], bool], rank: int) -> list[str]:
    """`name` and the tensors before it through nodes that `passes`, of the given rank, widest first."""
    found = []
    while True:
        if flow.rank(name) == rank:
            found.append(name)
        index = flow.producer.get(name)
        if index is None or not passes(flow.model.nodes[index]):
            return found[::-1]
        data = [i for i in flow.model.nodes[index].inputs if i and i not in flow.model.constants]
        if len(data) != 1:
            return found[::-1]
        name = data[0]


def chain_forward(flow: Dataflow, names: list[str], passes: Callable[[OnnxNode], bool],
                  ranks: tuple[int, ...]) -> list[str]:
    """Tensors after `names` along the one reader at each step that `passes`, widest first."""
    found = []
    while True:
        readers = {i for name in names for i in flow.readers(name)}
        if len(readers) != 1:
            return found[::-1]
        node = flow.model.nodes[readers.pop()]
        if not passes(node):
            return found[::-1]
        names = [out for out in node.outputs if out and flow.consumers.get(out) or out in flow.model.outputs]
        names = names or [node.outputs[0]]
        found += [out for out in names if flow.rank(out) in ranks]
