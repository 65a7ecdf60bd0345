"""`layerloom <command>` / `python -m engine <command>`: a thin shell over the engine.

Each command lives in `engine/commands/<module>.py` and exposes `add_arguments(parser)` and
`run(args) -> int`. Only the module of the command being run is imported (`COMMANDS` holds every
name's module and one-line help, so `layerloom --help` lists them all without importing any), and
command modules import torch only inside `run`, so `validate`, `predict` and `--help` never pay for
it. Every command exits 0 on success, 1 when its input is invalid (an unknown command included),
2 when a file cannot be read, each failure printed once as `error: …` on stderr.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import sys

# name → (module under engine.commands, one-line help). The module is imported only when its command runs.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("validate", "check a graph file and print every wire's shape"),
    "train": ("train", "train a graph on its dataset, with checkpoints and an event log"),
    "runs": ("runs", "list a graph's training runs (its <graph>.runs/ folder)"),
    "export": ("export", "export a graph (and trained weights) to verified ONNX and/or standalone PyTorch code"),
    "import": ("import_onnx", "turn an ONNX model, a PyTorch ExportedProgram (.pt2) or an nn.Module factory into a "
                              "graph file plus its weights"),
    "weights": ("weights", "map pretrained weights (.safetensors, .pth, a run; or fetched: torchvision, timm, "
                           "Hugging Face) onto a graph by name, with a report"),
    "predict": ("predict", "run an exported ONNX model on raw data (CSV, images, .npy/.npz arrays, a text prompt) with "
                           "onnxruntime"),
    "generate": ("generate", "write text with a trained language-model run, from a prompt"),
    "sweep": ("sweep", "sweep training settings and node parameters with Optuna; every trial is a run"),
    "lr-find": ("lr_find", "the learning-rate range test: train a copy briefly at growing rates and suggest one"),
    "profile": ("profile", "measure each node's forward/backward time and activation memory over a few training steps"),
    "launch": ("launch", "write torchrun, SkyPilot and Slurm files that train a graph on N machines with restarts"),
}
INVALID = 1  # the exit status of an unknown command: the input is invalid, as for a command given a bad graph


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The `layerloom` parser: every command listed with its help, but only `command`'s own arguments
    added (importing its module); the others parse nothing until they are the one asked for."""
    parser = argparse.ArgumentParser(
        prog="layerloom", description="Layerloom: build, train and export networks.",
        epilog="`layerloom` alone opens the app on an example, `layerloom FILE.json` opens the app on FILE.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            command_module(name).add_arguments(command_parser)
    return parser


def command_module(name: str):
    """The module of command `name` (a key of COMMANDS), imported now."""
    return importlib.import_module(f"engine.commands.{COMMANDS[name][0]}")


def unknown_command(word: str) -> str:
    """What to print for `layerloom WORD …` when WORD is neither a command nor a file to open:
    the word, the closest command when one is close (a typo), and every command."""
    kind = "option" if word.startswith("-") else "command"
    lines = [f"layerloom: unknown {kind} '{word}'"]
    if close := difflib.get_close_matches(word, COMMANDS, n=1):
        lines.append(f"did you mean '{close[0]}'?")
    lines.append(f"commands: {', '.join(COMMANDS)} (see `layerloom --help`); `layerloom FILE.json` opens the app")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    streams = sys.stdout, sys.stderr
    _print_any_text()
    try:
        return _run(sys.argv[1:] if argv is None else list(argv))
    finally:
        sys.stdout, sys.stderr = streams  # a caller in this process (a test, a script) gets its own back


def _run(argv: list[str]) -> int:
    # the top-level parser has no option but --help, so the first word that is not an option is the command
    command = next((word for word in argv if not word.startswith("-")), None)
    if command is not None and command not in COMMANDS:
        print(unknown_command(command), file=sys.stderr)
        return INVALID
    args = build_parser(command).parse_args(argv)
    try:
        status = command_module(args.command).run(args)
        sys.stdout.flush()  # inside the try: a closed pipe must surface here, not at interpreter exit
        return status
    except BrokenPipeError:
        # the reader went away (`layerloom validate g.json | head`): stop quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool killed by a closed pipe


def _print_any_text() -> None:
    """Text that cannot be encoded (a lone surrogate from an undecodable file name, a terminal that is
    not UTF-8) prints as `\\udce9` instead of ending the command with a UnicodeEncodeError; control
    characters in whatever is printed show as escapes (engine.text_safety.TerminalStream)."""
    from .text_safety import TerminalStream

    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    if not isinstance(sys.stdout, TerminalStream):
        sys.stdout, sys.stderr = TerminalStream(sys.stdout), TerminalStream(sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
