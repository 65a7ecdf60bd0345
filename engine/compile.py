"""The compiler: a validated graph document becomes a `torch.fx.GraphModule`.

The graph is written directly as a `torch.fx.Graph` — a placeholder per Input (and Target) node,
one `call_module` per layer or loss node whose submodule is registered under the node id, an
`operator.getitem` per used output of a multi-output layer, and an output. In the training flavour a
parameter-free node declared by its torch function becomes a `call_function` named by the node id
(`relu1 = torch.relu(fc1)`), sparing a module call per step; the inference flavour keeps a module
per node, so the ONNX exporter names every ONNX node after its scope (`/relu1/Relu`). `GraphModule` turns it
into ordinary generated Python (`fc1 = self.fc1(input1)`), so there is no interpretation per step
and the same module trains, goes through `torch.compile` and exports to ONNX; `state_dict` keys
carry the node ids (`fc1.weight`). A document placing blocks is compiled expanded (see
`engine.block_expand`): each layer inside an instance is registered under its scoped path, so the
instance is a named submodule (`block3.fc1.weight`, repeats `block3.0.fc1.weight`, nested
`enc.block3.fc1.weight`) and the ONNX scopes follow (`/block3/fc1/Gemm`).

Two flavours: `with_loss=True` (training) takes `(*inputs, *targets)` and returns
`{"loss": total, <loss id>: value, <output id>: tensor}`; `with_loss=False` (inference, export)
keeps only what feeds the Output nodes and returns the tensor, or a tuple in `output_names` order.
The inference flavour may be limited to chosen Output nodes (`outputs=[...]`): a GAN's generator
and discriminator are two such sub-networks of one document.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.fx as fx

from nodes import NodeSpec, Shape
from nodes.common import apply_init

from .blocks import PORT_SPEC, spec_of
from .document import Edge, GraphDocument
from .errors import CompileError, GraphInvalid
from .ties import tie_owner
from .validate import TOTAL_LOSS, ValidationReport, validate


@dataclass
class CompiledGraph:
    """The compiled module and the node ids behind its arguments and results, in their order."""

    module: fx.GraphModule
    input_names: list[str]
    target_names: list[str]
    output_names: list[str]
    loss_names: list[str]
    # placeholder node id → (sample shape with None for the batch, dtype name)
    placeholder_specs: dict[str, tuple[Shape, str]]

    @property
    def placeholder_names(self) -> list[str]:
        """The forward's positional arguments: inputs, then targets."""
        return [*self.input_names, *self.target_names]

    def example_inputs(self, batch_size: int = 2, device: str | torch.device | None = None) -> tuple:
        """Synthetic arguments for `module` (export tracing, benchmarks): random floats, zero indices."""
        args = []
        for name in self.placeholder_names:
            shape, dtype = self.placeholder_specs[name]
            size = [batch_size if dim is None else dim for dim in shape]
            if dtype == "int64":  # class index 0 and token id 0 are valid for any vocabulary
                args.append(torch.zeros(size, dtype=torch.int64, device=device))
            elif name in self.target_names:  # in [0, 1) so BCE-style targets are valid too
                args.append(torch.rand(size, device=device))
            else:
                args.append(torch.randn(size, device=device))
        return tuple(args)


def compile_graph(doc: GraphDocument, *, with_loss: bool = True, report: ValidationReport | None = None,
                  outputs: list[str] | None = None) -> CompiledGraph:
    """Validate `doc` (unless a fresh `report` is given) and compile it; never builds half a module.

    `outputs` (inference flavour only) keeps just those Output nodes and what feeds them.
    Raises GraphInvalid (carrying the diagnostics) when the graph has errors, and CompileError
    naming the node when a layer cannot be built or the graph lacks what the flavour needs.
    """
    report = report if report is not None else validate(doc)
    if report.errors:
        raise GraphInvalid(report.errors)
    if report.expansion is not None:  # blocks: compile the flat graph, whose ids are the module paths
        doc, report = report.expansion.flat, report.expansion.report
    specs = {node_id: spec_of(node.type_id) for node_id, node in doc.nodes.items()}
    by_role = _ids_by_role(report.order, specs)
    if outputs is not None:
        by_role["output"] = _chosen_outputs(outputs, by_role["output"], with_loss)
    sinks = by_role["output"] + (by_role["loss"] if with_loss else [])
    _check_sinks(by_role, with_loss)
    wires = {(e.dst, e.dst_port): e for e in doc.edges}
    needed = _ancestors(sinks, doc.edges)
    order = [node_id for node_id in report.order if node_id in needed]
    inputs = [n for n in by_role["input"] if n in needed]
    targets = [n for n in by_role["target"] if n in needed]
    if targets and not with_loss:
        raise CompileError(f"{_feeding(targets[0], by_role['output'], doc.edges)} depends on Target "
                           f"{targets[0]!r} — a prediction cannot use the labels; rewire it from an Input")

    graph = fx.Graph()
    values: dict[tuple[str, str], fx.Node] = {(n, "out"): graph.placeholder(n) for n in (*inputs, *targets)}
    modules: dict[str, torch.nn.Module] = {}
    for node_id in order:
        spec = specs[node_id]
        if spec is PORT_SPEC:  # a block's port: the value passes through
            values[(node_id, "out")] = values[_source(wires[(node_id, "in")])]
        elif spec.role in ("layer", "loss"):
            args = tuple(values[_source(wires[(node_id, p.name)])] for p in spec.inputs if (node_id, p.name) in wires)
            if spec.function is not None and with_loss:  # `relu1 = torch.relu(fc1)`: no module call per step
                fn, kwargs = spec.function(spec.resolve(doc.nodes[node_id].params))
                call = graph.create_node("call_function", fn, args, kwargs, name=node_id)
            else:
                modules[node_id] = _build_module(node_id, doc.nodes[node_id].params, spec, report)
                call = graph.call_module(node_id, args)
            call.meta["node_id"] = node_id  # the graph node it computes (engine/inspect taps every node's value)
            _record_outputs(graph, node_id, spec, call, doc.edges, values)
    unused_owners = _bind_ties(doc, specs, report, modules)

    outputs = {o: values[_source(wires[(o, "in")])] for o in by_role["output"]}
    if with_loss:
        losses = {n: values[(n, specs[n].outputs[0].name)] for n in by_role["loss"]}
        graph.output({TOTAL_LOSS: _sum(graph, list(losses.values())), **losses, **outputs})
    else:
        graph.output(next(iter(outputs.values())) if len(outputs) == 1 else tuple(outputs.values()))
    module = fx.GraphModule(modules, graph, class_name="LayerloomGraph")
    for owner in unused_owners:  # fx keeps only the modules its graph calls
        module.add_module(owner, modules[owner])
    placeholder_specs = {n: (report.shapes[(n, "out")], doc.nodes[n].params.get("dtype", "float32"))
                         for n in (*inputs, *targets)}
    return CompiledGraph(module, inputs, targets, by_role["output"],
                         by_role["loss"] if with_loss else [], placeholder_specs)


def _ids_by_role(order: list[str], specs: dict[str, NodeSpec]) -> dict[str, list[str]]:
    """Node ids per role, in topological order (ties broken by id, so the order is stable)."""
    return {role: [n for n in order if specs[n].role == role] for role in ("input", "target", "output", "loss")}


def _chosen_outputs(chosen: list[str], available: list[str], with_loss: bool) -> list[str]:
    """The Output nodes `chosen`, in graph order; each must be one of the graph's Outputs."""
    if with_loss:
        raise CompileError("choosing Output nodes is for the inference flavour (with_loss=False)")
    for node_id in chosen:
        if node_id not in available:
            raise CompileError(f"{node_id!r} is not an Output node of the graph — choose one of "
                               f"{', '.join(available) or '(none)'}")
    return [o for o in available if o in chosen]


def _check_sinks(by_role: dict[str, list[str]], with_loss: bool) -> None:
    if with_loss and not by_role["loss"]:
        raise CompileError("the graph has no loss node — add one (e.g. CrossEntropyLoss) fed by a prediction "
                           "and a Target to train it")
    if not with_loss and not by_role["output"]:
        raise CompileError("the graph has no Output node — add one to mark what inference returns")
    if with_loss and TOTAL_LOSS in by_role["output"] + by_role["loss"]:
        raise CompileError(f"node id {TOTAL_LOSS!r} is reserved for the total loss — rename the node")


def _ancestors(sinks: Iterable[str], edges: list[Edge]) -> set[str]:
    """`sinks` and every node that feeds them."""
    feeders: dict[str, list[str]] = {}
    for e in edges:
        feeders.setdefault(e.dst, []).append(e.src)
    seen, stack = set(), list(sinks)
    while stack:
        node_id = stack.pop()
        if node_id not in seen:
            seen.add(node_id)
            stack.extend(feeders.get(node_id, ()))
    return seen


def _feeding(source: str, outputs: list[str], edges: list[Edge]) -> str:
    """The first Output whose inputs reach back to `source` (for error messages)."""
    return next(o for o in outputs if source in _ancestors([o], edges))


def _source(edge: Edge) -> tuple[str, str]:
    return edge.src, edge.src_port


@functools.cache
def _reserved_names() -> frozenset[str]:
    """Attribute names a submodule may not take (they belong to GraphModule / nn.Module)."""
    return frozenset(dir(fx.GraphModule(torch.nn.Module(), fx.Graph())))


def _floats_of_integers(node_id: str, spec: NodeSpec, report: ValidationReport) -> str | None:
    """The float element type a node gives from integer inputs only (aten.erf of int64: float32), else None."""
    out = report.dtypes.get((node_id, spec.outputs[0].name))
    wired = report.context.wired if report.context is not None else {}
    edges = [wired[(node_id, port.name)] for port in spec.inputs if (node_id, port.name) in wired]
    ins = [report.dtypes.get((edge.src, edge.src_port)) for edge in edges]
    integer = ins and all(dtype is not None and dtype.startswith(("int", "uint")) for dtype in ins)
    return out if integer and out in ("float16", "bfloat16", "float32", "float64") else None


def _build_module(node_id: str, raw_params: dict, spec: NodeSpec, report: ValidationReport) -> torch.nn.Module:
    if node_id in _reserved_names():
        raise CompileError(f"{node_id} ({spec.type_id}): the id {node_id!r} is a reserved torch attribute "
                           f"name — rename the node")
    params = spec.resolve(raw_params)
    try:
        module = spec.build(params, report.input_shapes[node_id])
        if spec.has_weights_init:
            apply_init(module, params["init"])
        if hasattr(module, "node_id"):  # a module whose run-time errors name its node (a Reshape's batch split)
            module.node_id = f"{node_id} ({spec.type_id})"
        if hasattr(module, "cast_inputs"):  # the generic Op
            module.cast_inputs = _floats_of_integers(node_id, spec, report)
    except Exception as exc:  # a spec's builder may raise anything torch raises; name the node
        raise CompileError(f"{node_id} ({spec.type_id}): cannot build the layer: {exc}") from exc
    return module


def _bind_ties(doc: GraphDocument, specs: dict[str, NodeSpec], report: ValidationReport,
               modules: dict[str, torch.nn.Module]) -> list[str]:
    """Give each layer whose `tie` names another node that node's weight (one nn.Parameter, used twice). The
    name is looked up beside the layer first (inside the same block instance), then at the top level; an owner
    that feeds no output is built all the same, so its weight is still there to share; returns such owners."""
    unused = []
    for node_id, module in list(modules.items()):
        name = doc.nodes[node_id].params.get("tie") if hasattr(module, "tie") else None
        if not name:
            continue
        owner = tie_owner(doc, node_id, name)
        if owner is None or specs[owner].role != "layer":
            raise CompileError(f"{node_id} ({specs[node_id].type_id}): its tie names {name!r}, which is no layer of "
                               "the graph — name the Embedding or Linear whose weight it shares, or clear tie")
        if owner not in modules:
            modules[owner] = _build_module(owner, doc.nodes[owner].params, specs[owner], report)
            unused.append(owner)
        try:
            module.tie(modules[owner])
        except ValueError as exc:
            raise CompileError(f"{node_id} ({specs[node_id].type_id}): cannot share the weight of {owner!r}: "
                               f"{exc}") from None
    return unused


def _record_outputs(graph: fx.Graph, node_id: str, spec: NodeSpec, call: fx.Node, edges: list[Edge],
                    values: dict[tuple[str, str], fx.Node]) -> None:
    """Record the value of each output port of the node computed by `call`."""
    if len(spec.outputs) == 1:
        values[(node_id, spec.outputs[0].name)] = call
        return
    used = {e.src_port for e in edges if e.src == node_id}
    for i, port in enumerate(spec.outputs):
        if port.name in used:  # `lstm1_out = lstm1[0]`
            values[(node_id, port.name)] = graph.create_node(
                "call_function", operator.getitem, (call, i), name=f"{node_id}_{port.name}")


def _sum(graph: fx.Graph, terms: list[fx.Node]) -> fx.Node:
    total = terms[0]
    for term in terms[1:]:
        total = graph.call_function(operator.add, (total, term))
    return total
