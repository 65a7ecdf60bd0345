"""The `layerloom` command: a known subcommand runs headless in the engine, a file (or nothing) opens the app,
anything else is an unknown command.

`layerloom` opens the window on a built-in example, `layerloom FILE` opens FILE, and
`layerloom validate|train|export …` never imports Qt. What is neither — `layerloom sweep g.json`,
`layerloom trian g.json` — prints "unknown command" with the commands and exits 1, also without Qt:
opening the app on a file named "sweep" would show a window, or, headless, wait forever.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from engine.cli import COMMANDS, INVALID, unknown_command

    if argv and (argv[0] in COMMANDS or argv[0] in ("-h", "--help")):
        from engine.cli import main as cli_main

        return cli_main(argv)
    if argv and not opens_a_file(argv[0]):
        print(unknown_command(argv[0]), file=sys.stderr)
        return INVALID
    if len(argv) > 1:
        print(f"layerloom: the app opens one file, got {len(argv)} arguments: {' '.join(argv)}\n"
              f"commands: {', '.join(COMMANDS)} (see `layerloom --help`)", file=sys.stderr)
        return INVALID
    from app.main import run_app

    return run_app(argv)


def opens_a_file(word: str) -> bool:
    """Whether `layerloom WORD` means "open WORD in the app": an existing path, or a name ending in .json
    (a graph file that may be missing — the app then says so). A bare word like `sweep` that names no
    file is a mistyped or unknown command, never a file to create."""
    if word.startswith("-"):
        return False
    return word.lower().endswith(".json") or Path(word).exists()


if __name__ == "__main__":
    sys.exit(main())
