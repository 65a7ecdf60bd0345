"""Hugging Face BERT and GPT-2 (tiny configs, random weights, nothing downloaded) imported from ONNX files written by
torch's exporters: the position ids, token-type ids and attention masks the models compute from the input's sizes
(Range / GatherElements / GatherND / Expand / Where chains) are proven what they are and folded
(engine/onnx_import/fixed.py). Each import validates, gives what onnxruntime gives on the source file at two batch
sizes, keeps every row of its tables and its tied head, trains a step, and re-exports to ONNX and Python code with
parity — the ONNX re-export at a length longer than the import's, which only holds if the position table and the
causal mask were read as what they are rather than at the import's length."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_hf_families import LENGTH, VOCAB, TinyBert, TinyGPT2
from test_import_families import export_sequence_model
from test_onnx_import_patterns import assert_imports_at_every_length
from torch import nn

from engine.compile import compile_graph
from engine.errors import OnnxImportError
from engine.onnx_import import import_onnx

pytest.importorskip("transformers")


def _with_biases(module: nn.Module) -> nn.Module:
    """Random biases: the dynamo exporter drops a bias that is all zeros (how the tiny models start)."""
    torch.manual_seed(1)
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            if name.endswith("bias"):
                parameter.uniform_(-0.2, 0.2)
    return module.eval()


# family, exporter → (model, what the family's layers and tables became: node type → params it must have)
CASES = {
    ("bert", "torchscript"): (lambda: TinyBert(), {
        "MultiheadAttention": {"causal": False, "bias": True, "num_heads": 2},
        "PositionalEncoding": {"kind": "learned", "max_len": 32},  # the whole table, though read at T = 16
        "Parameter": {"shape": [2, 16]},  # both token types kept, the first one read
        "Slice": {"dim": 1, "start": 0, "end": 1}}),
    ("bert", "dynamo"): (lambda: TinyBert(), {
        "MultiheadAttention": {"causal": False, "bias": True, "num_heads": 2},
        "PositionalEncoding": {"kind": "learned", "max_len": 32},
        "Parameter": {"shape": [2, 16]},
        "Slice": {"dim": 1, "start": 0, "end": 1}}),
    ("gpt2", "dynamo"): (lambda: TinyGPT2(), {  # torch's TorchScript exporter cannot write GPT-2 (aten::diff)
        "MultiheadAttention": {"causal": True, "bias": True, "num_heads": 2},
        "PositionalEncoding": {"kind": "learned", "max_len": 32},
        "GELU": {"approximate": "tanh"}}),
}


def _ids(batch: int, length: int) -> np.ndarray:
    return np.random.default_rng(batch * 100 + length).integers(0, VOCAB, (batch, length))


@pytest.mark.parametrize("family, exporter", CASES)
def test_a_transformers_onnx_file_imports_trains_and_re_exports_with_parity(family, exporter, tmp_path):
    torch.manual_seed(0)
    factory, mapped = CASES[(family, exporter)]
    module = _with_biases(factory())
    imported = assert_imports_at_every_length(module, _ids, tmp_path / f"{family}.onnx", exporter)
    doc = imported.document
    nodes = {**doc.nodes, **{f"{name}/{k}": v for name, block in doc.blocks.items() for k, v in block.nodes.items()}}
    for type_id, params in mapped.items():
        found = [{key: node.params[key] for key in params} for node in nodes.values() if node.type_id == type_id]
        assert params in found, (type_id, found)
    assert not any(node.type_id == "Op" for node in nodes.values())  # nothing left as a generic op
    positional = next(key for key in imported.weights if key.endswith(".pe"))
    table = module.bert.embeddings.position_embeddings if family == "bert" else module.gpt.transformer.wpe
    np.testing.assert_array_equal(imported.weights[positional], table.weight.detach().numpy())
    if family == "gpt2":  # the head shares the token table: one tensor
        (head,) = [node for node in nodes.values() if node.type_id == "Linear" and node.params.get("tie")]
        assert nodes[head.params["tie"]].type_id == "Embedding"
    if family == "bert":  # three layers: one block definition
        assert len(doc.blocks) == 1
    # every parameter of the original, no more, no fewer: tables whole, tied weights once
    compiled = compile_graph(doc, with_loss=False)
    assert sum(p.numel() for p in compiled.module.parameters()) == sum(p.numel() for p in module.parameters())


class EvenPositions(nn.Module):
    """A table read at 0, 2, 4, … — computed from the length alone, but not the positions: not a position table."""

    def __init__(self):
        super().__init__()
        self.tok, self.pos = nn.Embedding(VOCAB, 8), nn.Embedding(64, 8)

    def forward(self, ids):
        return self.tok(ids) + self.pos(2 * torch.arange(ids.shape[1], device=ids.device))


def test_a_value_computed_from_sizes_that_is_no_known_one_is_refused_not_folded(tmp_path):
    """What a size-computed value is gets proven at two lengths: every-other row reads the same rows at no length
    but the import's, so the table read stays refused (cut to the import's length it would lose data)."""
    torch.manual_seed(0)
    export_sequence_model(EvenPositions().eval(), torch.randint(0, VOCAB, (2, LENGTH)), tmp_path / "m.onnx",
                          "torchscript")
    with pytest.raises(OnnxImportError, match=r"reads entries of the stored table .* chosen by the input's size"):
        import_onnx(tmp_path / "m.onnx")
