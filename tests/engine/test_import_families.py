"""Real architectures imported from ONNX, written as small plain-PyTorch modules that reproduce each family's
patterns (torchvision and timm cannot be installed beside the CPU torch): each exported by both of torch's
exporters, imported, validated, compared with the original at two batch sizes, trained a step with falling loss
and exported again with parity.
The learned tables they hold survive whole, and tied weights stay one tensor."""

from __future__ import annotations

import importlib.util
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from safetensors.numpy import save_file
from test_onnx_coverage import export, run_imported
from torch import nn

from engine.compile import compile_graph
from engine.export.onnx_export import export_onnx
from engine.export.python_code import export_python
from engine.onnx_import import import_onnx
from engine.onnx_import.loading import DYNAMIC_SIZE
from engine.validate import validate

EXPORTERS = ["torchscript", "dynamo"]
VOCAB, WIDTH, CONTEXT = 50, 16, 64


class TinyGPT(nn.Module):
    """GPT's front and back: token and learned position tables (64 positions), a pre-norm MLP block, and an
    output projection tied to the token table."""

    def __init__(self):
        super().__init__()
        self.tok, self.pos = nn.Embedding(VOCAB, WIDTH), nn.Embedding(CONTEXT, WIDTH)
        self.ln, self.fc = nn.LayerNorm(WIDTH), nn.Linear(WIDTH, WIDTH)
        self.head = nn.Linear(WIDTH, VOCAB, bias=False)
        self.head.weight = self.tok.weight

    def forward(self, ids):
        x = self.tok(ids) + self.pos(torch.arange(ids.shape[1], device=ids.device))
        x = x + F.gelu(self.fc(self.ln(x)))
        return self.head(x)


def export_sequence_model(module: nn.Module, ids: torch.Tensor, path, exporter: str) -> None:
    """Export with the batch and the sequence length dynamic, as a language model is."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "dynamo":
            dims = {0: torch.export.Dim("batch"), 1: torch.export.Dim("t", max=CONTEXT)}
            torch.onnx.export(module, (ids,), str(path), dynamo=True, external_data=False, verbose=False,
                              input_names=["x"], output_names=["y"], dynamic_shapes=(dims,))
        else:
            torch.onnx.export(module, (ids,), str(path), dynamo=False, input_names=["x"], output_names=["y"],
                              dynamic_axes={"x": {0: "batch", 1: "t"}, "y": {0: "batch", 1: "t"}})


def _parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_a_gpt_keeps_its_whole_position_table_and_one_tied_matrix(exporter, tmp_path):
    torch.manual_seed(0)
    gpt = TinyGPT().eval()
    export_sequence_model(gpt, torch.randint(0, VOCAB, (2, 12)), tmp_path / "gpt.onnx", exporter)
    imported = import_onnx(tmp_path / "gpt.onnx")
    doc = imported.document
    assert validate(doc).ok
    positional = next(node_id for node_id, node in doc.nodes.items() if node.type_id == "PositionalEncoding")
    assert doc.nodes[positional].params["max_len"] == CONTEXT
    np.testing.assert_array_equal(imported.weights[f"{positional}.pe"], gpt.pos.weight.detach().numpy())
    heads = [node for node in doc.nodes.values() if node.type_id == "Linear" and node.params.get("tie")]
    assert len(heads) == 1 and doc.nodes[heads[0].params["tie"]].type_id == "Embedding"
    compiled = compile_graph(doc, with_loss=False)
    assert _parameters(compiled.module) == _parameters(gpt)  # 120,576 → one table, not two
    for batch in (1, 3):
        ids = torch.randint(0, VOCAB, (batch, DYNAMIC_SIZE))
        with torch.no_grad():
            expected = gpt(ids).numpy()
        np.testing.assert_allclose(run_imported(imported, {"x": ids.numpy()})["y"], expected, rtol=1e-4, atol=1e-5)

    assert_a_step_lowers_the_loss(imported, torch.randint(0, VOCAB, (4, DYNAMIC_SIZE)))

    # exported again: the tied table written once, and lengths past the import's 16 run
    save_file(imported.weights, str(tmp_path / "w.safetensors"))
    assert export_onnx(doc, tmp_path / "again.onnx", weights=tmp_path / "w.safetensors").passed
    tables = [t for t in onnx.load(str(tmp_path / "again.onnx")).graph.initializer if sorted(t.dims) == [WIDTH, VOCAB]]
    assert len(tables) == 1
    ids = torch.randint(0, VOCAB, (2, 24))
    session = ort.InferenceSession(str(tmp_path / "again.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: ids.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(got, gpt(ids).numpy(), rtol=1e-4, atol=1e-5)


def assert_a_step_lowers_the_loss(imported, x: torch.Tensor) -> None:
    """The imported graph, from its imported weights, trains: one SGD step on a regression to fixed targets lowers
    the loss on that batch (every weight gets a gradient)."""
    compiled = compile_graph(imported.document, with_loss=False)
    compiled.module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in imported.weights.items()})
    model = compiled.module.train()
    with torch.no_grad():
        target = torch.randn_like(model(x))
    before = F.mse_loss(model(x), target)
    before.backward()
    assert all(p.grad is not None for p in model.parameters())
    torch.optim.SGD(model.parameters(), lr=1e-3).step()
    with torch.no_grad():
        after = F.mse_loss(model(x), target)
    assert after < before, (before.item(), after.item())


def assert_family_imports(network: type[nn.Module], shape: tuple, tmp_path, exporter: str) -> list[str]:
    """Export the (seeded) network, import it: it validates, equals the original at two batch sizes, and its
    ONNX and Python exports give the original's outputs again. Returns the imported node types."""
    torch.manual_seed(0)
    module = network().eval()
    export(module, torch.randn(2, *shape), tmp_path / "model.onnx", exporter)
    imported = import_onnx(tmp_path / "model.onnx")
    doc = imported.document
    assert validate(doc).ok, [str(d) for d in validate(doc).diagnostics]
    for batch in (1, 3):
        x = torch.randn(batch, *shape)
        with torch.no_grad():
            expected = module(x).numpy()
        np.testing.assert_allclose(run_imported(imported, {"x": x.numpy()})["y"], expected, rtol=1e-4, atol=1e-4)
    assert_a_step_lowers_the_loss(imported, torch.randn(4, *shape))
    save_file(imported.weights, str(tmp_path / "w.safetensors"))
    assert export_onnx(doc, tmp_path / "again.onnx", weights=tmp_path / "w.safetensors").passed
    python = export_python(doc, tmp_path / "again.py", weights=tmp_path / "w.safetensors")
    spec = importlib.util.spec_from_file_location(f"family_{exporter}", python.code_path)
    code = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(code)
    x = torch.randn(2, *shape)
    with torch.no_grad():
        np.testing.assert_allclose(code.load(python.weights_path)(x).numpy(), module(x).numpy(), rtol=1e-4, atol=1e-4)
    return [node.type_id for node in doc.nodes.values()]


class Fire(nn.Module):
    """SqueezeNet: a 3×3 stride-2 max pool rounding up (ceil_mode), then squeeze (1×1) and two expands joined."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=2)
        self.pool = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.squeeze, self.e1, self.e3 = nn.Conv2d(8, 4, 1), nn.Conv2d(4, 6, 1), nn.Conv2d(4, 6, 3, padding=1)

    def forward(self, x):
        x = F.relu(self.squeeze(self.pool(F.relu(self.stem(x)))))
        return torch.cat([F.relu(self.e1(x)), F.relu(self.e3(x))], 1)


class AvgDown(nn.Module):
    """timm's ResNet-D shortcut: average 2×2 windows rounding up, padding not counted, then a 1×1 conv; and a
    pool with a per-axis window and stride and a dilated max pool over what is left."""

    def __init__(self):
        super().__init__()
        self.down = nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False)
        self.proj = nn.Conv2d(3, 4, 1)
        self.wide = nn.AvgPool2d((1, 3), stride=(1, 2), padding=0)
        self.dilated = nn.MaxPool2d(2, stride=1, dilation=2)

    def forward(self, x):
        return self.dilated(self.wide(self.proj(self.down(x))))


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_squeezenet_pools_round_up(exporter, tmp_path):
    types = assert_family_imports(Fire, (3, 15, 15), tmp_path, exporter)  # 7×7 → 3×3 only when rounding up
    assert {"MaxPool2d", "Concat"} <= set(types)


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_resnet_d_average_pool_rounds_up_without_counting_padding(exporter, tmp_path):
    types = assert_family_imports(AvgDown, (3, 9, 15), tmp_path, exporter)
    assert types.count("AvgPool2d") == 2 and "MaxPool2d" in types


class ViT(nn.Module):
    """ViT / DeiT: patches embedded by a strided conv and flattened (`flatten(2)`), a learned class token expanded
    over the batch and put first, a learned position table added, a pre-norm MLP block, the head on the token."""

    def __init__(self, width: int = 16, patches: int = 9):
        super().__init__()
        self.patch = nn.Conv2d(3, width, 4, stride=4)
        self.cls_token = nn.Parameter(torch.randn(1, 1, width))
        self.pos_embed = nn.Parameter(torch.randn(1, patches + 1, width))
        self.norm, self.fc1, self.fc2 = nn.LayerNorm(width), nn.Linear(width, 2 * width), nn.Linear(2 * width, width)
        self.head = nn.Linear(width, 5)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)  # (N, 9, D)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = x + self.fc2(F.gelu(self.fc1(self.norm(x))))
        return self.head(x[:, 0])


class ConvNeXtBlock(nn.Module):
    """ConvNeXt: a depthwise 7×7 conv, a channel MLP as 1×1 convs, scaled per channel by a learned layer scale."""

    def __init__(self, channels: int = 8):
        super().__init__()
        self.dw = nn.Conv2d(channels, channels, 7, padding=3, groups=channels)
        self.pw1, self.pw2 = nn.Conv2d(channels, 4 * channels, 1), nn.Conv2d(4 * channels, channels, 1)
        self.gamma = nn.Parameter(torch.rand(channels) + 0.5)

    def forward(self, x):
        return x + self.gamma.view(-1, 1, 1) * self.pw2(F.gelu(self.pw1(self.dw(x))))


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_vit_class_token_becomes_a_parameter_expanded_over_the_batch(exporter, tmp_path):
    """TorchScript writes flatten(2) and the expand as sizes computed from Shape, which shape inference leaves
    unknown; the position table, added whole, is a learned PositionalEncoding."""
    types = assert_family_imports(ViT, (3, 12, 12), tmp_path, exporter)
    assert types.count("Parameter") == 1 and {"Concat", "PositionalEncoding"} <= set(types)


class DeiT(ViT):
    """DeiT: a second learned token (distillation) beside the class token, a head on each, their mean the output."""

    def __init__(self, width: int = 16, patches: int = 9):
        super().__init__(width, patches)
        self.dist_token = nn.Parameter(torch.randn(1, 1, width))
        self.pos_embed = nn.Parameter(torch.randn(1, patches + 2, width))
        self.head_dist = nn.Linear(width, 5)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        n = x.shape[0]
        x = torch.cat([self.cls_token.expand(n, -1, -1), self.dist_token.expand(n, -1, -1), x], dim=1)
        x = x + self.pos_embed
        x = x + self.fc2(F.gelu(self.fc1(self.norm(x))))
        return (self.head(x[:, 0]) + self.head_dist(x[:, 1])) / 2


class MBConv(nn.Module):
    """EfficientNet's MBConv: expand 1×1, depthwise 3×3, SiLU, squeeze-and-excitation gated by a sigmoid,
    project 1×1, batch norms folded by the exporters, a residual."""

    def __init__(self, channels: int = 8, expand: int = 4):
        super().__init__()
        hidden = channels * expand
        self.expand = nn.Sequential(nn.Conv2d(channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.SiLU())
        self.depthwise = nn.Sequential(nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden, bias=False),
                                       nn.BatchNorm2d(hidden), nn.SiLU())
        self.se_reduce, self.se_expand = nn.Conv2d(hidden, 2, 1), nn.Conv2d(2, hidden, 1)
        self.project = nn.Sequential(nn.Conv2d(hidden, channels, 1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x):
        h = self.depthwise(self.expand(x))
        gate = torch.sigmoid(self.se_expand(F.silu(self.se_reduce(h.mean((2, 3), keepdim=True)))))
        return x + self.project(h * gate)


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_deit_distillation_token_and_two_heads(exporter, tmp_path):
    types = assert_family_imports(DeiT, (3, 12, 12), tmp_path, exporter)
    assert types.count("Parameter") == 2 and types.count("Linear") == 4 and "PositionalEncoding" in types


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_efficientnet_mbconv_with_silu_and_squeeze_excitation(exporter, tmp_path):
    types = assert_family_imports(MBConv, (8, 6, 6), tmp_path, exporter)
    assert "SiLU" in types and "Sigmoid" in types and "Multiply" in types


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_convnext_layer_scale_becomes_a_parameter(exporter, tmp_path):
    types = assert_family_imports(ConvNeXtBlock, (8, 9, 9), tmp_path, exporter)
    assert types.count("Parameter") == 1 and "Multiply" in types


class ShuffleUnit(nn.Module):
    """ShuffleNetV2: split the channels in half (bounds read off the input), transform one half, join, and shuffle
    the channels between the two groups (reshape to groups, swap, flatten back)."""

    def __init__(self, channels: int = 8):
        super().__init__()
        half = channels // 2
        self.branch = nn.Sequential(nn.Conv2d(half, half, 1), nn.BatchNorm2d(half), nn.ReLU(),
                                    nn.Conv2d(half, half, 3, padding=1, groups=half), nn.BatchNorm2d(half))

    def forward(self, x):
        c = x.shape[1] // 2
        x = torch.cat([x[:, :c], self.branch(x[:, c:])], 1)
        n, channels, h, w = x.shape
        return x.view(n, 2, channels // 2, h, w).transpose(1, 2).reshape(n, channels, h, w)


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_shufflenet_channel_split_and_shuffle(exporter, tmp_path):
    types = assert_family_imports(ShuffleUnit, (8, 5, 5), tmp_path, exporter)
    # the reshape – transpose – reshape of the shuffle is one ChannelShuffle node, not three
    assert {"ChannelShuffle", "Concat"} <= set(types) and ({"Slice", "Split"} & set(types))
    assert not {"Permute", "Reshape"} & set(types)


class CausalSelfAttention(nn.Module):
    """GPT's attention written by hand: one qkv projection split in three, heads made with `view`, torch's fused
    scaled_dot_product_attention (causal), heads folded back and projected."""

    def __init__(self, width: int = WIDTH, heads: int = 2):
        super().__init__()
        self.heads = heads
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)

    def forward(self, x):
        n, t, d = x.shape
        q, k, v = (z.view(n, t, self.heads, d // self.heads).transpose(1, 2) for z in self.qkv(x).split(d, dim=2))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).contiguous().view(n, t, d))


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_gpt_attention_from_either_exporter_is_the_attention_node(exporter, tmp_path):
    types = assert_family_imports(CausalSelfAttention, (7, WIDTH), tmp_path, exporter)
    assert types == ["Input", "MultiheadAttention", "Output"]
