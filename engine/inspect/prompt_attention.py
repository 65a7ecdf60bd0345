"""Why this text: where a language model's last attention node looks, over the prompt and what it wrote.

After `generate` the worker runs the model once more, tapped (attention.py), on a window of the final token
sequence: the prompt's last tokens — at most `min(context, CAP)` of them — followed by the written tokens that
still fit. Row t of each head is where position t looked when it chose token t + 1, so the row of the prompt's
last token explains the first written token. Each token is labelled as the codec reads that one id on its own
(a character, or a BPE piece; engine/data/tokens.py). Nothing is written to disk: the answer is interactive.
"""

from __future__ import annotations

import torch

from ..data.tokens import Codec
from .attention import attention_map, attention_nodes

CAP = 64  # tokens shown at most: a longer prompt shows its last CAP
DIGITS = 4  # weights are sent rounded (a 64 × 64 map per head travels as JSON)


def token_window(prompt_tokens: int, total: int, context: int, cap: int = CAP) -> tuple[int, int]:
    """(start, stop) of the shown tokens among `total` (the prompt's `prompt_tokens`, then the written ones): the
    prompt's last `min(context, cap)` tokens and the written ones after them up to that many in all."""
    size = max(1, min(context, cap))
    start = max(0, prompt_tokens - size)
    return start, min(total, start + size)


def prompt_attention(module: torch.nn.Module, codec: Codec, ids: list[int], prompt_tokens: int, context: int,
                     cap: int = CAP) -> dict | None:
    """The attention of the inference module's last attention node (in graph order) over the token window of
    `ids` (`token_window`): {"node", "tokens" (T labels), "prompt" (how many of them are the prompt's),
    "skipped" (prompt tokens before the window), "cap" (the most shown), "context", "weights" (heads × T × T,
    each row summing to 1)}; None when the graph has no attention node."""
    found = attention_nodes(module)
    if not found:
        return None
    start, stop = token_window(prompt_tokens, len(ids), context, cap)
    window = ids[start:stop]
    device = next((p.device for p in module.parameters()), torch.device("cpu"))
    weights = attention_map(module, (torch.tensor([window], device=device),), found[-1])  # (heads, T, T)
    weights = weights.nan_to_num(0.0).cpu()  # a fully masked row has no weights (never one of a causal LM)
    return {"node": found[-1], "tokens": [codec.vocab[i] for i in window], "prompt": prompt_tokens - start,
            "skipped": start, "cap": min(context, cap), "context": context,
            "weights": weights.double().mul(10**DIGITS).round().div(10**DIGITS).tolist()}
