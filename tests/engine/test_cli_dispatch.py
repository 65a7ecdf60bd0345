"""`layerloom …` dispatch: a command runs headless and imports only its own module, a file (or nothing)
opens the app, anything else is an unknown command — exit 1, with the commands and a "did you mean",
without Qt (before, `layerloom sweep g.json` opened the app on a file named "sweep" and, headless,
waited forever)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from app import launcher
from engine import cli
from engine.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
# Runs `layerloom ARGS…` in a fresh interpreter, then prints the modules it imported as JSON on its last line.
SCRIPT = ("import json, sys; from app.launcher import main\n"
          "try:\n    status = main(sys.argv[1:])\nexcept SystemExit as exc:\n    status = exc.code\n"
          "sys.stdout.flush(); print(json.dumps(sorted(sys.modules))); sys.exit(status)")


def run_layerloom(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess, set[str]]:
    """`layerloom ARGS` in a subprocess, and the modules it had imported when it returned. The timeout
    turns the old bug (a window waiting forever, offscreen) into a failure rather than a hung suite."""
    run = subprocess.run([sys.executable, "-c", SCRIPT, *args], cwd=cwd, env=ENV, capture_output=True, text=True,
                         timeout=60)
    lines = run.stdout.splitlines()
    modules = set(json.loads(lines[-1])) if lines and lines[-1].startswith("[") else set()
    return run, modules


@pytest.fixture
def no_app(monkeypatch):
    """Replaces app.main with a stub that records what the app would open, so an in-process call that
    (wrongly or rightly) reaches the app neither imports Qt nor waits on a window."""
    opened: list[list[str]] = []
    stub = types.ModuleType("app.main")
    stub.run_app = lambda argv: opened.append(list(argv)) or 0
    monkeypatch.setitem(sys.modules, "app.main", stub)
    return opened


# -- unknown commands ---------------------------------------------------------------------------------
def test_an_unknown_command_exits_1_with_the_commands_and_never_imports_qt(tmp_path):
    run, modules = run_layerloom("frobnicate", "g.json", "--param", "x", cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stderr.startswith("layerloom: unknown command 'frobnicate'\n")
    assert "did you mean" not in run.stderr  # nothing is close to "frobnicate"
    assert all(name in run.stderr for name in COMMANDS)
    assert not {m for m in modules if m.split(".")[0] in ("PySide6", "torch")}
    assert "app.main" not in modules


@pytest.mark.parametrize(("typo", "meant"), [("trian", "train"), ("predcit", "predict"), ("improt", "import"),
                                             ("valdiate", "validate"), ("export_", "export"), ("run", "runs")])
def test_a_typo_suggests_the_command_it_was_meant_to_be(typo, meant, no_app, capsys):
    assert launcher.main([typo, "g.json"]) == 1
    err = capsys.readouterr().err
    assert f"unknown command '{typo}'\ndid you mean '{meant}'?" in err
    assert no_app == []


def test_python_m_engine_says_the_same(capsys):
    assert cli.main(["trian", "g.json"]) == 1
    assert "unknown command 'trian'\ndid you mean 'train'?" in capsys.readouterr().err


def test_an_unknown_option_is_not_a_file_either(no_app, capsys):
    assert launcher.main(["--version"]) == 1
    assert "unknown option '--version'" in capsys.readouterr().err
    assert no_app == []


# -- what opens the app -------------------------------------------------------------------------------
def test_nothing_or_one_file_opens_the_app(tmp_path, monkeypatch, no_app):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "graph").write_text("{}")  # an existing file opens whatever its name
    (tmp_path / "folder").mkdir()
    for argv in ([], ["graph"], ["folder"], ["g.json"], ["missing.JSON"], [str(tmp_path / "graph")]):
        assert launcher.main(argv) == 0
    assert no_app == [[], ["graph"], ["folder"], ["g.json"], ["missing.JSON"], [str(tmp_path / "graph")]]


def test_a_file_with_more_arguments_is_refused(tmp_path, monkeypatch, no_app, capsys):
    monkeypatch.chdir(tmp_path)
    assert launcher.main(["g.json", "--param", "x"]) == 1
    assert "the app opens one file, got 3 arguments" in capsys.readouterr().err
    assert no_app == []


@pytest.mark.parametrize(("name", "message"), [("missing.json", "No such file"), ("bad.json", "not valid JSON"),
                                               ("folder", "Is a directory")])
def test_an_unreadable_file_headless_exits_2_instead_of_waiting_on_a_dialog(name, message, tmp_path):
    (tmp_path / "bad.json").write_text("{bad")
    (tmp_path / "folder").mkdir()
    run, _ = run_layerloom(name, cwd=tmp_path)
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"layerloom: {name}: " in run.stderr and message in run.stderr


# -- commands import only what they need --------------------------------------------------------------
COMMAND_MODULES = {f"engine.commands.{module}" for module, _ in COMMANDS.values()}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_commands_help_imports_only_its_own_module(name, tmp_path):
    run, modules = run_layerloom(name, "--help", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"usage: layerloom {name} ")
    own = f"engine.commands.{COMMANDS[name][0]}"
    assert own in modules
    assert modules & COMMAND_MODULES == {own}
    assert not {m for m in modules if m.split(".")[0] in ("networkx", "torch", "PySide6", "onnxruntime")}


def test_predict_help_does_not_import_numpy_either(tmp_path):
    run, modules = run_layerloom("predict", "--help", cwd=tmp_path)
    assert run.returncode == 0 and "numpy" not in modules


def test_help_lists_every_command_with_its_help_and_imports_none(tmp_path):
    run, modules = run_layerloom("--help", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    listed = " ".join(run.stdout.split())  # argparse wraps long help lines
    for name, (_, help_text) in COMMANDS.items():
        assert f" {name} {help_text}" in listed
    assert not modules & COMMAND_MODULES


def test_every_command_module_is_listed_and_has_a_parser_and_a_run():
    on_disk = {p.stem for p in (ROOT / "engine" / "commands").glob("*.py")} - {"__init__", "common"}
    assert {module for module, _ in COMMANDS.values()} == on_disk
    for name in COMMANDS:
        module = cli.command_module(name)
        assert callable(module.run)
        parser = cli.build_parser(name)
        with pytest.raises(SystemExit) as exc:
            parser.parse_args([name, "--help"])
        assert exc.value.code == 0
        # the arguments were added: a bare `layerloom NAME` is missing its required ones
        with pytest.raises(SystemExit) as exc:
            parser.parse_args([name])
        assert exc.value.code == 2
