"""Hugging Face `transformers` models from tiny configs (random weights, nothing downloaded) into graphs: a BERT
encoder and a GPT-2 language model, imported from a saved ExportedProgram (.pt2) and from a factory — each
validates, is grouped into one block per repeated layer class, gives the original's outputs at two batch sizes,
trains a step, and re-exports to ONNX and Python code that give them again. Their ONNX files import too
(test_hf_onnx_import.py)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file
from test_import_families import assert_a_step_lowers_the_loss, export_sequence_model
from torch import nn

from engine.compile import compile_graph
from engine.export.onnx_export import export_onnx
from engine.export.python_code import export_python
from engine.torch_import import PytorchImportError, call_factory, import_module, import_pt2
from engine.torch_import.program import trace
from engine.validate import validate

transformers = pytest.importorskip("transformers")

VOCAB, LENGTH = 64, 8


class TinyBert(nn.Module):
    """BERT's encoder (SDPA attention) returning its last hidden state, configured as the real one is: two token
    types (the graph keeps both rows and reads the first, as BERT does when given no token types) and padding id 0
    (the Embedding's padding_idx: that row is never trained)."""

    def __init__(self, attention: str = "sdpa", token_types: int = 2, layers: int = 3):
        super().__init__()
        config = transformers.BertConfig(
            vocab_size=VOCAB, hidden_size=16, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=32,
            max_position_embeddings=32, type_vocab_size=token_types, pad_token_id=0, hidden_dropout_prob=0.0,
            attention_probs_dropout_prob=0.0, attn_implementation=attention)
        self.bert = transformers.BertModel(config, add_pooling_layer=False)

    def forward(self, ids):
        return self.bert(input_ids=ids, return_dict=False)[0]


class TinyGPT2(nn.Module):
    """GPT-2 with its language-model head (tied to the token table), returning the logits."""

    def __init__(self, attention: str = "sdpa"):
        super().__init__()
        config = transformers.GPT2Config(
            vocab_size=VOCAB, n_embd=16, n_layer=2, n_head=2, n_positions=32, use_cache=False, resid_pdrop=0.0,
            embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0, attn_implementation=attention)
        self.gpt = transformers.GPT2LMHeadModel(config)

    def forward(self, ids):
        return self.gpt(input_ids=ids, use_cache=False, return_dict=False)[0]


def tiny_bert() -> nn.Module:
    torch.manual_seed(0)
    return TinyBert()


def tiny_gpt2() -> nn.Module:
    torch.manual_seed(0)
    return TinyGPT2()


FAMILIES = {"bert": (tiny_bert, "BertLayer"), "gpt2": (tiny_gpt2, "GPT2Block")}
MAPPED = {  # what the family's layers and tables became: node id (in the block definition, or in the graph) → …
    # BERT: self-attention whose output projection (the next module's Linear) joins it; the token-type table
    # whole as a Parameter, its first row sliced out (no token types given); the position table kept whole
    # (32 rows, though traced at T = 8); padding id 0 kept
    "bert": {"attention_self": ("MultiheadAttention", {"causal": False, "bias": True}),
             "bert_embeddings_token_type_embeddings": ("Parameter", {"shape": [2, 16]}),
             "bert_embeddings_token_type_embeddings_row": ("Slice", {"dim": 1, "start": 0, "end": 1}),
             "bert_embeddings_word_embeddings": ("Embedding", {"padding_idx": 0}),
             "bert_embeddings_position_embeddings": ("PositionalEncoding", {"max_len": 32})},
    # GPT-2: fused Conv1D q/k/v with a causal mask; Conv1D as a Linear; the head tied to the token table
    "gpt2": {"attn": ("MultiheadAttention", {"causal": True, "bias": True}),
             "mlp_c_fc": ("Linear", {"out_features": 64}),
             "gpt_transformer_wpe": ("PositionalEncoding", {"max_len": 32}),
             "gpt_lm_head": ("Linear", {"tie": "gpt_transformer_wte"})},
}


def imported_from(source: str, family: str, tmp_path):
    """The family's module and its import: from a `.pt2` file, or from a factory named as the CLI names it."""
    factory, _ = FAMILIES[family]
    if source == "pt2":
        module = factory().eval()
        torch.export.save(trace(module, [(LENGTH,)], ["int64"]), tmp_path / f"{family}.pt2")
        return module, import_pt2(tmp_path / f"{family}.pt2")
    module = call_factory(f"test_hf_families:{factory.__name__}").eval()
    return module, import_module(module, [(LENGTH,)], family, ["int64"])


@pytest.mark.parametrize("source", ["pt2", "factory"])
@pytest.mark.parametrize("family", FAMILIES)
def test_a_transformers_model_imports_trains_and_re_exports_with_parity(family, source, tmp_path):
    module, imported = imported_from(source, family, tmp_path)
    doc = imported.document
    assert validate(doc).ok, [str(d) for d in validate(doc).diagnostics]
    assert list(doc.blocks) == [FAMILIES[family][1]]  # one definition for the repeated layer class
    nodes = {**doc.nodes, **doc.blocks[FAMILIES[family][1]].nodes}
    for node_id, (type_id, params) in MAPPED[family].items():
        assert (nodes[node_id].type_id, {key: nodes[node_id].params[key] for key in params}) == (type_id, params)
    compiled = compile_graph(doc, with_loss=False)
    compiled.module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in imported.weights.items()})
    assert sum(p.numel() for p in compiled.module.parameters()) == sum(p.numel() for p in module.parameters())
    for batch in (1, 3):
        ids = torch.randint(0, VOCAB, (batch, LENGTH))
        with torch.no_grad():
            np.testing.assert_allclose(compiled.module.eval()(ids).numpy(), module(ids).numpy(), atol=1e-4, rtol=0)
    assert_a_step_lowers_the_loss(imported, torch.randint(0, VOCAB, (4, LENGTH)))

    save_file(imported.weights, str(tmp_path / "w.safetensors"))
    assert export_onnx(doc, tmp_path / "again.onnx", weights=tmp_path / "w.safetensors").passed
    python = export_python(doc, tmp_path / "again.py", weights=tmp_path / "w.safetensors")
    spec = importlib.util.spec_from_file_location(f"hf_{family}_{source}", python.code_path)
    code = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(code)
    ids = torch.randint(0, VOCAB, (2, LENGTH))
    with torch.no_grad():
        np.testing.assert_allclose(code.load(python.weights_path)(ids).numpy(), module(ids).numpy(), atol=1e-4, rtol=0)


@pytest.mark.parametrize("model, reason", [
    (lambda: TinyBert(attention="eager", layers=1), r"attention\.self: reads positions or another value computed"),
])
def test_what_cannot_be_kept_whole_is_refused_with_the_reason(model, reason):
    torch.manual_seed(0)
    with pytest.raises(PytorchImportError, match=reason):
        import_module(model().eval(), [(LENGTH,)], "bert", ["int64"])


def test_gpt2_cannot_be_written_by_the_torchscript_exporter(tmp_path):
    """torch's own limit, not Layerloom's: GPT-2's packed-sequence check uses aten::diff, which that exporter lacks."""
    from torch.onnx.errors import UnsupportedOperatorError

    with pytest.raises(UnsupportedOperatorError, match="diff"):
        export_sequence_model(TinyGPT2().eval(), torch.randint(0, VOCAB, (2, LENGTH)), tmp_path / "m.onnx",
                              "torchscript")
