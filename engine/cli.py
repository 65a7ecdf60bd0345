"""`layerloom <command>` / `python -m engine <command>`: a thin shell over the engine.

Each command lives in `engine/commands/<module>.py` and exposes `add_arguments(parser)` and
`run(args) -> int`. Command modules import torch only inside `run`, so `validate` and `--help`
never pay for it. Every command exits 0 on success, 1 when its input is invalid, 2 when a file
cannot be read, each failure printed once as `error: …` on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

COMMANDS = {
    "validate": "check a graph file and print every wire's shape",
    "train": "train a graph on its dataset, with checkpoints and an event log",
    "runs": "list a graph's training runs (its <graph>.runs/ folder)",
    "export": "export a graph (and trained weights) to verified ONNX and/or standalone PyTorch code",
    "import": "turn an ONNX model of supported ops into a graph file plus its weights",
    "predict": "run an exported ONNX model on raw data (CSV, images, a text prompt) with onnxruntime",
    "generate": "write text with a trained language-model run, from a prompt",
    "launch": "write torchrun, SkyPilot and Slurm files that train a graph on N machines with restarts",
}
MODULES = {"import": "import_onnx"}  # commands whose name is a Python keyword


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="layerloom", description="Layerloom: build, train and export networks.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        _command_module(name).add_arguments(command_parser)
    return parser


def _command_module(name: str):
    return importlib.import_module(f"engine.commands.{MODULES.get(name, name)}")


def main(argv: list[str] | None = None) -> int:
    _print_any_text()
    args = build_parser().parse_args(argv)
    try:
        status = _command_module(args.command).run(args)
        sys.stdout.flush()  # inside the try: a closed pipe must surface here, not at interpreter exit
        return status
    except BrokenPipeError:
        # the reader went away (`layerloom validate g.json | head`): stop quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool killed by a closed pipe


def _print_any_text() -> None:
    """Text that cannot be encoded (a lone surrogate from an undecodable file name, a terminal that is
    not UTF-8) prints as `\\udce9` instead of ending the command with a UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


if __name__ == "__main__":
    sys.exit(main())
