"""`layerloom generate RUN --prompt TEXT --tokens N [--temperature T] [--top-k K] [--seed S]`.

Writes text with a trained language-model run (a text dataset; see engine/tasks/language.py): its
graph.json, data.json vocabulary and best (else last) weights, on the CPU. Prints the prompt and the
N characters after it. Exits 0 on success, 1 when the run or prompt does not fit, 2 when the run
folder cannot be read.
"""

from __future__ import annotations

import sys

from ..errors import LayerloomError
from .common import UNREADABLE


def add_arguments(parser) -> None:
    parser.add_argument("run", help="a run folder of a model trained on a text dataset")
    parser.add_argument("--prompt", required=True, help="the text to continue (characters of the vocabulary)")
    parser.add_argument("--tokens", type=int, default=200, metavar="N", help="characters to write (default 200)")
    parser.add_argument("--temperature", type=float, default=0.8, metavar="T",
                        help="sampling temperature; 0 takes the likeliest character each time (default 0.8)")
    parser.add_argument("--top-k", type=int, default=10, metavar="K",
                        help="sample among the K likeliest characters; 0 for all (default 10)")
    parser.add_argument("--seed", type=int, default=None, help="seed the sampling, for text that repeats")


def run(args) -> int:
    if args.tokens < 0 or args.temperature < 0 or args.top_k < 0:
        print("error: --tokens, --temperature and --top-k must be at least 0", file=sys.stderr)
        return 1
    import torch  # only now: --help stays fast

    from ..runs import RunStoreError
    from ..tasks.language import generate, run_model

    try:
        logits, codec, block = run_model(args.run)
        rng = torch.Generator().manual_seed(args.seed) if args.seed is not None else None
        text = generate(logits, codec, args.prompt, args.tokens, block, torch.device("cpu"), args.temperature,
                        args.top_k, rng)
    except RunStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return UNREADABLE
    except LayerloomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(args.prompt + text)
    return 0
