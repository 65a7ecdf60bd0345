"""Applying the graph-against-data fixes headlessly: what `layerloom validate GRAPH --fix` does.

The app offers each check of data_fit.py with a Fix button; a command-line user gets the same edits here, on
the document, all of them: the Input's shape and dtype from the dataset (a table's encoded width), one score
per class, the loss for the task (a regression's MSELoss, and one value per target column), an Output where a
loss's prediction has none. A fix can reveal the next check (replacing the loss lets the prediction's width be
checked), so checks are made again after each round until none has a fix left or ROUNDS have passed.
"""

from __future__ import annotations

from .data_fit import AddOutput, DataCheck, Fix, ReplaceNode, SetParam, data_checks
from .document import Edge, GraphDocument
from .validate import validate

ROUNDS = 5
OUTPUT_OFFSET = (270.0, 0.0)  # where an added Output goes, from the node it reads (the templates' spacing)


def apply_data_fixes(doc: GraphDocument, info: dict) -> tuple[list[str], list[DataCheck]]:
    """Apply every fix the checks of `doc` against the dataset `info` (engine/data/describe.py) offer; returns
    what was done, one line per fix, and the checks left without a fix."""
    done: list[str] = []
    for _ in range(ROUNDS):
        checks = data_checks(doc, validate(doc), info)
        fixes = list({str(check.fix): check.fix for check in checks if check.fix is not None}.values())
        if not fixes:
            return done, checks
        for fix in fixes:
            if fix.node in doc.nodes:
                apply_fix(doc, fix)
                done.append(f"{fix}")
    return done, data_checks(doc, validate(doc), info)


def apply_fix(doc: GraphDocument, fix: Fix) -> None:
    """One fix, on the document."""
    if isinstance(fix, SetParam):
        doc.set_param(*fix)
    elif isinstance(fix, AddOutput):
        x, y = doc.nodes[fix.node].position
        output = doc.add_node("Output", position=(x + OUTPUT_OFFSET[0], y + OUTPUT_OFFSET[1]))
        doc.add_edge(Edge(fix.node, fix.port, output, "in"))
    elif isinstance(fix, ReplaceNode):
        position, index = doc.nodes[fix.node].position, list(doc.nodes).index(fix.node)
        wires = doc.edges_of(fix.node)
        doc.remove_node(fix.node)
        doc.add_node(fix.type_id, position=position, node_id=fix.node, index=index)
        for wire in wires:
            doc.add_edge(wire)
