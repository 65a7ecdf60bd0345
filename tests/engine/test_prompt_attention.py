"""Where a language model's last attention node looks over the prompt and what it wrote
(engine/inspect/prompt_attention.py), and the worker's generate reply that carries it."""

from __future__ import annotations

import io
import json
import queue
from itertools import pairwise

import pytest
import torch
from train_harness import run

from engine.compile import compile_graph
from engine.data.tokens import CharCodec, train_bpe
from engine.document import Edge, GraphDocument
from engine.inspect.prompt_attention import CAP, prompt_attention, token_window
from engine.tasks.language import generate_ids
from engine.train.worker import Output, Worker

VOCAB = list("abcdefghij ")


def tiny_lm(context: int, causal: bool = True, blocks: int = 2, vocab: int = len(VOCAB)) -> GraphDocument:
    """Input (context,) tokens → Embedding 16 → learned positions → `blocks` TransformerBlocks → Linear."""
    doc = GraphDocument("tiny lm")
    doc.add_node("Input", {"shape": [context], "dtype": "int64"}, node_id="input1")
    doc.add_node("Embedding", {"num_embeddings": vocab, "embedding_dim": 16}, node_id="emb1")
    doc.add_node("PositionalEncoding", {"kind": "learned", "max_len": context}, node_id="pos1")
    chain = ["input1", "emb1", "pos1"]
    for i in range(1, blocks + 1):
        doc.add_node("TransformerBlock", {"num_heads": 2, "causal": causal, "dropout": 0.0}, node_id=f"block{i}")
        chain.append(f"block{i}")
    doc.add_node("Linear", {"out_features": vocab}, node_id="fc1")
    doc.add_node("Output", node_id="output1")
    chain += ["fc1", "output1"]
    for a, b in pairwise(chain):
        doc.add_edge(Edge(a, "out", b, "in"))
    return doc


def model(doc: GraphDocument) -> torch.nn.Module:
    torch.manual_seed(0)
    return compile_graph(doc, with_loss=False).module.eval()


def attention_for(module, prompt: str, tokens: int, context: int, codec=None) -> tuple[dict, list[int]]:
    codec = codec or CharCodec(VOCAB)
    ids, start = generate_ids(lambda x: module(x), codec, prompt, tokens, context, torch.device("cpu"), 0.0)
    return prompt_attention(module, codec, ids, start, context), ids


def test_the_last_blocks_attention_over_the_prompt_is_causal_and_sums_to_one_per_token():
    module = model(tiny_lm(16))
    attention, ids = attention_for(module, "abc dea", 4, 16)
    assert attention["node"] == "block2"  # the last attention node in graph order
    assert attention["tokens"] == list("abc dea") + [VOCAB[i] for i in ids[7:]]  # prompt then written, as read
    assert attention["prompt"] == 7 and attention["skipped"] == 0 and len(attention["tokens"]) == 11
    weights = torch.tensor(attention["weights"])  # (heads, T, T)
    assert weights.shape == (2, 11, 11)  # one row per token, in each head
    assert torch.allclose(weights.sum(-1), torch.ones(2, 11), atol=1e-3)
    earlier = torch.ones(11, 11, dtype=torch.bool).tril()
    assert (weights[:, ~earlier] == 0).all() and (weights[:, earlier] > 0).all()  # causal: nothing on a later token
    other, _ = attention_for(module, "jjj hhi", 4, 16)
    assert not torch.allclose(torch.tensor(other["weights"])[:, :7, :7], weights[:, :7, :7], atol=1e-3)


def test_a_bidirectional_model_looks_ahead_too():
    attention, _ = attention_for(model(tiny_lm(8, causal=False)), "abcd", 2, 8)
    weights = torch.tensor(attention["weights"])
    assert (weights.triu(1) > 0).any() and torch.allclose(weights.sum(-1), torch.ones(2, 6), atol=1e-3)


def test_a_long_prompt_shows_its_last_tokens_up_to_the_cap_or_the_context():
    context = CAP + 16
    prompt = ("abcdefghij " * 8)[:CAP + 10]  # 74 characters: the first 10 are left out
    attention, ids = attention_for(model(tiny_lm(context, blocks=1)), prompt, 3, context)
    assert attention["skipped"] == 10 and attention["prompt"] == CAP == attention["cap"]
    assert attention["tokens"] == list(prompt[10:]) and len(attention["weights"][0]) == CAP
    assert token_window(prompt_tokens=5, total=20, context=8) == (0, 8)  # a short context: 5 prompt, 3 written
    assert token_window(prompt_tokens=12, total=20, context=8) == (4, 12)  # the prompt's last 8, nothing written


def test_bpe_tokens_are_labelled_as_the_tokenizer_reads_each_piece():
    codec = train_bpe("the cat sat on the mat\n" * 40, vocab_size=280)
    attention, ids = attention_for(model(tiny_lm(16, vocab=len(codec.vocab))), "the cat sat", 3, 16, codec)
    prompt = attention["tokens"][:attention["prompt"]]
    assert "".join(prompt) == "the cat sat" and len(prompt) < len("the cat sat")  # merged pieces, one chip each
    assert len(attention["weights"][0]) == len(attention["tokens"]) == len(ids)


def test_a_graph_without_attention_has_none():
    doc = GraphDocument("rnn lm")
    doc.add_node("Input", {"shape": [8], "dtype": "int64"}, node_id="input1")
    doc.add_node("Embedding", {"num_embeddings": len(VOCAB), "embedding_dim": 8}, node_id="emb1")
    doc.add_node("Linear", {"out_features": len(VOCAB)}, node_id="fc1")
    doc.add_node("Output", node_id="output1")
    for a, b in [("input1", "emb1"), ("emb1", "fc1"), ("fc1", "output1")]:
        doc.add_edge(Edge(a, "out", b, "in"))
    assert attention_for(model(doc), "abc", 2, 8)[0] is None


@pytest.mark.slow
def test_the_workers_generate_reply_carries_the_attention_of_the_weights_that_wrote(tmp_path):
    doc = tiny_lm(8, vocab=61, blocks=1)
    doc.add_node("Target", {"shape": [8], "dtype": "int64"}, node_id="target1")
    doc.add_node("CrossEntropyLoss", node_id="loss1")
    doc.add_edge(Edge("fc1", "out", "loss1", "pred"))
    doc.add_edge(Edge("target1", "out", "loss1", "target"))
    doc.training = {"dataset": {"name": "text", "block_size": 8, "stride": 8, "val_split": 0.1},
                    "optimizer": {"name": "adam", "lr": 0.01}, "epochs": 1, "batch_size": 256, "seed": 0,
                    "device": "cpu"}
    result, _ = run(doc, tmp_path / "run")
    assert result.state == "finished", result.message
    out = io.StringIO()
    commands = queue.Queue()
    for command in ({"cmd": "generate", "run_dir": str(tmp_path / "run"), "prompt": "The k", "tokens": 6,
                     "temperature": 0.0, "top_k": 0}, None):
        commands.put(command)
    Worker(Output(out))._serve(commands)  # as its thread for `generate` serves it
    reply = json.loads(out.getvalue())
    assert reply["type"] == "generated", reply
    attention = reply["attention"]
    assert attention["node"] == "block1" and attention["prompt"] == 5
    assert "".join(attention["tokens"]) == ("The k" + reply["text"])[:8]  # the context: 8 tokens
    assert torch.allclose(torch.tensor(attention["weights"]).sum(-1), torch.ones(2, 8), atol=1e-3)
