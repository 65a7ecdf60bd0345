"""The project's own exception types: errors a user can cause, with messages that say what to do."""

from __future__ import annotations


class LayerloomError(Exception):
    """Base of every error caused by user input (files, graphs, data, settings)."""


class DocumentError(LayerloomError):
    """A graph file or document edit is malformed; the message names the file and field."""


class GraphInvalid(LayerloomError):
    """A graph that does not validate was asked to compile, train or export."""

    def __init__(self, diagnostics):
        self.diagnostics = list(diagnostics)
        lines = [str(d) for d in self.diagnostics if d.severity == "error"]
        super().__init__("the graph has errors:\n  " + "\n  ".join(lines))
