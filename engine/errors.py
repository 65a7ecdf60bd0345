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


class CompileError(LayerloomError):
    """A valid graph that still cannot become a torch module; the message names the node at fault."""


class DataError(LayerloomError):
    """A dataset cannot be loaded as configured; the message names the file, row/column or config field."""


class DataUnavailable(DataError):
    """A dataset's files cannot be had or read: no copy and no network, a download failing its checksum, a
    damaged file. The message names the files and where to put them; the CLI exits 2 (unreadable)."""

    exit_status = 2


class ConfigError(LayerloomError):
    """A training setting is missing, mistyped or out of range; the message names the field."""


class OnnxImportError(LayerloomError):
    """The ONNX file cannot be turned into a graph; the message names the file and ONNX node."""


class OnnxUnreadable(OnnxImportError):
    """The ONNX file is missing or not an ONNX model at all (as opposed to one with unsupported ops)."""


class PredictError(LayerloomError):
    """`layerloom predict`: the model or the data cannot be used as given; the message names the file, row or
    column, the kind of input given and what would work."""

    exit_status = 1  # invalid


class UnreadableError(PredictError):
    """`layerloom predict`: a file is missing or is not what it should be (an ONNX model, an image)."""

    exit_status = 2


class ExportError(LayerloomError):
    """An export could not be written or verified; the message names the node at fault."""


class WeightsError(LayerloomError):
    """Weights are missing or do not fit the graph; the message names the file and the tensor."""


class CheckpointError(LayerloomError):
    """A checkpoint is missing, torn or does not fit the graph; the message names the file."""
