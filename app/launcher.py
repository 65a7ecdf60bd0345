"""The `layerloom` command: a known subcommand runs headless in the engine, anything else opens the app.

`layerloom` opens the window on a built-in example, `layerloom FILE` opens FILE, and
`layerloom validate|train|export …` never imports Qt.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from engine.cli import COMMANDS

    if argv and (argv[0] in COMMANDS or argv[0] in ("-h", "--help")):
        from engine.cli import main as cli_main

        return cli_main(argv)
    from app.main import run_app

    return run_app(argv)


if __name__ == "__main__":
    sys.exit(main())
