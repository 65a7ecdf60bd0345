"""Patterns of real networks written as small modules and imported from ONNX files of both exporters: attention whose
heads are folded into the batch axis (`view(B*H, T, d)`, GPT written by hand) with nanoGPT's causal mask sliced out of
a stored triangle, and ShuffleNet's channel shuffle. Each sequence model is exported with a dynamic length and checked
at a length longer than the import's after its re-export: what was proven about the mask holds at every length."""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable

import numpy as np
import onnxruntime as ort
import pytest
import torch
from safetensors.numpy import save_file
from test_import_families import EXPORTERS, assert_a_step_lowers_the_loss, assert_family_imports, export_sequence_model
from test_onnx_coverage import export, run_imported
from torch import nn

from engine.errors import OnnxImportError
from engine.export.onnx_export import export_onnx
from engine.export.python_code import export_python
from engine.onnx_import import ImportedGraph, import_onnx
from engine.onnx_import.loading import DYNAMIC_SIZE
from engine.validate import validate

LONGER = 24  # a length past the import's DYNAMIC_SIZE


def run_onnx(path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def assert_imports_at_every_length(module: nn.Module, make: Callable[[int, int], np.ndarray], path,
                                   exporter: str) -> ImportedGraph:
    """Export `module` with a dynamic batch and length, import it: it validates, gives what onnxruntime gives on the
    source file at two batch sizes, trains a step with falling loss, and re-exports to ONNX that gives the module's
    outputs at a length longer than the import's, and to Python code with parity. `make(batch, length)` makes an
    input."""
    export_sequence_model(module, torch.from_numpy(make(2, 8)), path, exporter)
    imported = import_onnx(path)
    doc = imported.document
    assert validate(doc).ok, [str(d) for d in validate(doc).diagnostics]
    for batch in (1, 3):
        x = make(batch, DYNAMIC_SIZE)
        np.testing.assert_allclose(_run_imported(imported, x), run_onnx(path, x), atol=1e-4, rtol=0)
    assert_a_step_lowers_the_loss(imported, torch.from_numpy(make(4, DYNAMIC_SIZE)))
    save_file(imported.weights, str(path.parent / "w.safetensors"))
    assert export_onnx(doc, path.parent / "again.onnx", weights=path.parent / "w.safetensors").passed
    x = make(2, LONGER)
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(run_onnx(path.parent / "again.onnx", x), expected, atol=1e-4, rtol=0)
    python = export_python(doc, path.parent / "again.py", weights=path.parent / "w.safetensors")
    spec = importlib.util.spec_from_file_location(f"again_{path.stem}_{exporter}", python.code_path)
    code = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(code)
    x = make(2, DYNAMIC_SIZE)
    with torch.no_grad():
        np.testing.assert_allclose(code.load(python.weights_path)(torch.from_numpy(x)).numpy(),
                                   module(torch.from_numpy(x)).numpy(), atol=1e-4, rtol=0)
    return imported


def _run_imported(imported: ImportedGraph, x: np.ndarray) -> np.ndarray:
    return run_imported(imported, {"x": x})["y"]


class HeadsInBatch(nn.Module):
    """Causal self-attention as some GPTs write it: a LayerNorm first, then q, k, v with the heads folded into the
    batch (`reshape(N * H, T, d)`, the sizes read off the block's input), batched matmuls, nanoGPT's mask sliced out
    of a stored lower triangle, and the heads unfolded again."""

    def __init__(self, width: int = 16, heads: int = 2, context: int = 64):
        super().__init__()
        self.heads = heads
        self.ln, self.qkv, self.proj = nn.LayerNorm(width), nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.register_buffer("bias", torch.tril(torch.ones(context, context)).view(1, context, context))

    def forward(self, x):
        n, t, d = x.shape
        h = self.heads
        q, k, v = (z.view(n, t, h, d // h).transpose(1, 2).reshape(n * h, t, d // h)
                   for z in self.qkv(self.ln(x)).split(d, 2))
        att = (q @ k.transpose(1, 2)) / math.sqrt(d // h)
        att = att.masked_fill(self.bias[:, :t, :t] == 0, float("-inf"))
        y = att.softmax(-1) @ v  # (N * H, T, d)
        return x + self.proj(y.view(n, h, t, d // h).transpose(1, 2).reshape(n, t, d))


def _floats(batch: int, length: int) -> np.ndarray:
    return np.random.default_rng(batch * 100 + length).standard_normal((batch, length, 16)).astype(np.float32)


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_attention_with_heads_folded_into_the_batch_is_the_attention_node(exporter, tmp_path):
    """The head split reads the batch size off the block's input, not the layer before the attention; the mask is
    a slice of a stored triangle compared with 0 — proven causal at two lengths, not kept as a table."""
    torch.manual_seed(0)
    imported = assert_imports_at_every_length(HeadsInBatch().eval(), _floats, tmp_path / "heads.onnx", exporter)
    nodes = imported.document.nodes.values()
    assert [node.type_id for node in nodes] == ["Input", "LayerNorm", "MultiheadAttention", "Add", "Output"]
    assert next(node for node in nodes if node.type_id == "MultiheadAttention").params["causal"] is True


class Shuffle(nn.Module):
    """ShuffleNet's channel shuffle of four groups between two grouped convs."""

    def __init__(self, groups: int = 4):
        super().__init__()
        self.groups = groups
        self.conv1, self.conv2 = nn.Conv2d(8, 8, 1, groups=groups), nn.Conv2d(8, 8, 3, padding=1, groups=groups)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        n, channels, h, w = x.shape
        x = x.view(n, self.groups, channels // self.groups, h, w).transpose(1, 2).reshape(n, channels, h, w)
        return self.conv2(x)


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_channel_shuffle_is_one_node_with_its_groups(exporter, tmp_path):
    types = assert_family_imports(Shuffle, (8, 5, 5), tmp_path, exporter)
    assert types == ["Input", "Conv2d", "ReLU", "ChannelShuffle", "Conv2d", "Output"]
    shuffle = next(node for node in import_onnx(tmp_path / "model.onnx").document.nodes.values()
                   if node.type_id == "ChannelShuffle")
    assert shuffle.params["groups"] == 4


class NotAShuffle(nn.Module):
    """Reshape – transpose – reshape that moves the spatial axes, not the channel groups: no ChannelShuffle."""

    def forward(self, x):
        n, c, h, w = x.shape
        return x.view(n, c, 2, h // 2, w).transpose(1, 2).reshape(n, c, h, w)


def test_a_reshape_transpose_reshape_that_does_not_shuffle_channels_stays_as_written(tmp_path):
    torch.manual_seed(0)
    export(NotAShuffle().eval(), torch.randn(2, 4, 6, 3), tmp_path / "m.onnx", "torchscript")
    imported = import_onnx(tmp_path / "m.onnx")
    assert "ChannelShuffle" not in [node.type_id for node in imported.document.nodes.values()]
    x = np.random.default_rng(0).standard_normal((3, 4, 6, 3)).astype(np.float32)
    np.testing.assert_allclose(_run_imported(imported, x), run_onnx(tmp_path / "m.onnx", x), atol=1e-6)


class BandAttention(HeadsInBatch):
    """The same attention, but each position sees only itself and the three before it: a mask that is neither empty
    nor causal, which no MultiheadAttention computes."""

    def __init__(self, context: int = 64):
        super().__init__(context=context)
        ones = torch.ones(context, context)
        self.bias = (torch.tril(ones) - torch.tril(ones, -4)).view(1, context, context)


def test_a_size_computed_mask_that_is_neither_empty_nor_causal_is_not_folded_and_is_refused(tmp_path):
    torch.manual_seed(0)
    export_sequence_model(BandAttention().eval(), torch.from_numpy(_floats(2, 8)), tmp_path / "m.onnx", "torchscript")
    with pytest.raises(OnnxImportError, match="stored table 'bias'"):
        import_onnx(tmp_path / "m.onnx")


class TimeStepsInBatch(nn.Module):
    """Each time step handled as a sample: `x.reshape(B * T, C)`, a Linear and a ReLU, `reshape(B, T, C')` — the
    ReLU keeps the exporters' reshapes around the Linear from folding into one batched MatMul."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 5)

    def forward(self, x):
        b, t, c = x.shape
        return torch.relu(self.fc(x.reshape(b * t, c))).reshape(b, t, -1)


# The TorchScript exporter's unfold reads its sizes off the input at run time (`Shape → Gather → Concat`): sizes.py
# works them out knowing that the merged wire holds N·T rows.
@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_a_reshape_folding_time_steps_into_the_batch_is_a_batch_merge_and_split(exporter, tmp_path):
    types = assert_family_imports(TimeStepsInBatch, (4, 6), tmp_path, exporter)
    assert types == ["Input", "Reshape", "Linear", "ReLU", "Reshape", "Output"]
    imported = import_onnx(tmp_path / "model.onnx")
    reshapes = [node.params for node in imported.document.nodes.values() if node.type_id == "Reshape"]
    assert [(p["batch"], list(p["shape"])) for p in reshapes] == [("merge", [6]), ("split", [5])]
    assert reshapes[1]["batch_split"] == 4
    for batch in (1, 3):
        x = np.random.default_rng(batch).standard_normal((batch, 4, 6), dtype=np.float32)
        np.testing.assert_allclose(_run_imported(imported, x), run_onnx(tmp_path / "model.onnx", x), atol=1e-5,
                                   rtol=0)
