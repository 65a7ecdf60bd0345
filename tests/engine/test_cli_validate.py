"""`layerloom validate`: shapes and diagnostics on stdout, exit 0 valid / 1 invalid / 2 unreadable."""

import json
from pathlib import Path

import pytest

from engine.cli import main
from engine.document import Edge, GraphDocument
from engine.fileformat import save_document

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "resources" / "examples").glob("*.json"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_validates_and_prints_its_shapes(example, capsys):
    assert main(["validate", str(example)]) == 0
    out = capsys.readouterr().out
    assert "valid" in out and "(N, " in out
    report = json.loads(_run_json(example, capsys))
    assert report["valid"] and all(edge["shape"] is not None for edge in report["edges"])


def _run_json(path, capsys) -> str:
    main(["validate", str(path), "--json"])
    return capsys.readouterr().out


def test_invalid_graph_exits_1_and_names_node_and_port(tmp_path, capsys):
    doc = GraphDocument()
    doc.add_node("Input", {"shape": [1, 28, 28]}, node_id="input1")
    doc.add_node("Linear", {"out_features": 10}, node_id="fc1")
    doc.add_node("Output", node_id="output1")
    doc.add_edge(Edge("input1", "out", "fc1", "in"))
    doc.add_edge(Edge("fc1", "out", "output1", "in"))
    path = tmp_path / "bad.json"
    save_document(doc, path)
    assert main(["validate", str(path)]) == 1
    assert "error: fc1.in: expected (N, features) or (N, T, features), got (N, 1, 28, 28) — add Flatten" in (
        capsys.readouterr().out)
    report = json.loads(_run_json(path, capsys))
    assert not report["valid"]
    assert report["diagnostics"][0] | {} == {
        "severity": "error", "node": "fc1", "port": "in", "param": None,
        "message": "expected (N, features) or (N, T, features), got (N, 1, 28, 28) — add Flatten",
    }


def test_unreadable_file_exits_2_with_the_reason(tmp_path, capsys):
    path = tmp_path / "broken.json"
    path.write_text('{"format": "layerloom-graph", "version": 1, "nodes": [}')
    assert main(["validate", str(path)]) == 2
    assert "broken.json: line 1" in capsys.readouterr().err
    assert main(["validate", str(tmp_path / "missing.json")]) == 2


def test_reader_closing_the_pipe_ends_quietly_without_a_traceback():
    """`layerloom validate g.json | head -1`: the command stops at the closed pipe, no BrokenPipeError wall."""
    import os
    import subprocess
    import sys

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has already gone: every write the command makes hits a closed pipe
    try:
        done = subprocess.run([sys.executable, "-m", "engine", "validate", str(EXAMPLES[0])],
                              stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write_end)
    assert done.returncode == 141
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr
