"""Tied weights, checked when the graph is validated: a layer whose `tie` names another node (GPT's output
projection sharing the token embedding's table) must find that node — beside itself in its block instance, else
at the top level — and the node's weight must be the matrix the layer multiplies by. The compiler binds the tie
by the same lookup (`tie_owner`); validating first turns what would be a compile error into a diagnostic on the
layer's `tie` param."""

from __future__ import annotations

from nodes import get_spec

from .document import GraphDocument
from .validation_report import Diagnostic, ValidationReport


def tie_owner(doc: GraphDocument, node_id: str, name: str) -> str | None:
    """The node `name` refers to from `node_id`: in the same block instance first (`enc.tok` for `enc.head`),
    else at the top level; None when there is none (a node never ties to itself)."""
    scope = node_id.rpartition(".")[0]
    return next((c for c in (f"{scope}.{name}" if scope else "", name) if c in doc.nodes and c != node_id), None)


def _weight_shape(doc: GraphDocument, report: ValidationReport, node_id: str) -> tuple | None:
    """The weight matrix a node holds, (rows, columns); None when its input is not known yet."""
    node = doc.nodes[node_id]
    params = get_spec(node.type_id).resolve(node.params)
    if node.type_id == "Embedding":
        return params["num_embeddings"], params["embedding_dim"]
    features = report.input_shapes.get(node_id, {}).get("in")
    return None if features is None else (params["out_features"], features[-1])


def tie_diagnostics(doc: GraphDocument, report: ValidationReport) -> list[Diagnostic]:
    """One error per layer whose tie names no node, a node without a weight to share, or a weight of another
    shape than the layer's (out_features, in features)."""
    problems = []
    for node_id, node in doc.nodes.items():
        name = node.params.get("tie")
        if node.type_id != "Linear" or not name:
            continue

        def refuse(why: str, node_id=node_id) -> None:
            problems.append(Diagnostic("error", why, node_id, param="tie", stage="ties"))

        owner = tie_owner(doc, node_id, name)
        if owner is None:
            refuse(f"tie names {name!r}, which is no node of the graph — name the Embedding or Linear whose weight "
                   "this layer shares, or clear tie")
            continue
        kind = doc.nodes[owner].type_id
        if kind not in ("Embedding", "Linear"):
            refuse(f"tie names {owner!r} ({kind}), which has no weight matrix to share — name an Embedding or Linear")
            continue
        if kind == "Linear" and doc.nodes[owner].params.get("tie"):
            refuse(f"tie names {owner!r}, which shares its weight too — name the node that holds it "
                   f"({doc.nodes[owner].params['tie']!r})")
            continue
        features = report.input_shapes.get(node_id, {}).get("in")
        have = _weight_shape(doc, report, owner)
        if features is None or have is None:
            continue  # an upstream problem is already reported
        want = (get_spec("Linear").resolve(node.params)["out_features"], features[-1])
        if have != want:
            refuse(f"tie names {owner!r}, whose weight is {have[0]} × {have[1]}, but this layer multiplies "
                   f"{want[1]} features into {want[0]}, which needs {want[0]} × {want[1]} — set out_features to "
                   f"{have[0]} and feed it {have[1]} features, or tie to another node")
    return problems
