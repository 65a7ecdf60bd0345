"""Issue 26: no command the user did not write runs, and user text never alters a generated file's structure.

Hostile names and paths (newlines, quotes, $(), backticks, ;, #, %, ESC) go through every generator: the
launch bundle's torchrun.sh, slurm.sbatch and skypilot.yaml run under stand-in torchrun/srun/sbatch/scontrol
commands that record their argv; the model card is checked line by line and rendered; `layerloom runs`
output is checked for raw control characters.
"""

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from train_harness import iris_mlp

from engine.cli import main
from engine.errors import ConfigError
from engine.export.model_card import UNTRAINED, build_card, write_card
from engine.export.run_record import TrainedRun
from engine.fileformat import save_document
from engine.launch.bundle import BUNDLE_MOUNT, LaunchPlan, write_bundle
from engine.launch.sweep_workers import write_sweep_workers
from engine.runs import slug
from engine.text_safety import markdown_code, markdown_fence, markdown_text, terminal_text

PAYLOAD = "x $(touch PWNED1) `touch PWNED2` ; touch PWNED3 && touch PWNED4 | touch PWNED5 # 'q' \"dq\" %j \\ {a,b} *"
HOSTILE_NAME = ("iris\nevent_callback: touch PWNED6\nconfig: {docker: {run_options: --privileged}}\n"
                "# $(touch PWNED7) `touch PWNED8` ; touch PWNED9 %j")  # a graph file may hold newlines
CONTROL_NAMES = ["b\ntouch PWNED\n", "b\rc", "b\x1b[31mred", "b\x9bc", "b\u2028c", "b\u202ec"]
SKY_KEYS = {"name", "num_nodes", "resources", "workdir", "file_mounts", "envs", "setup", "run"}
SBATCH_OPTIONS = {"job-name", "nodes", "ntasks-per-node", "gpus-per-node", "output", "requeue"}


# -- stand-ins: every command a generated file may start records its argv ----------------------------------
STANDINS = {
    "torchrun": "",
    "srun": 'exec "$@"\n',
    "scontrol": "echo node001\n",
    "sbatch": 'SLURM_JOB_NODELIST=node001 exec bash "$1"\n',
}


@pytest.fixture
def standins(tmp_path):
    """(env, read_log): PATH starts with bash stand-ins that append their name and argv to a log, then act
    (srun runs its command, scontrol names one node, sbatch runs the script with bash)."""
    bin_dir, log = tmp_path / "standins", tmp_path / "standins.log"
    bin_dir.mkdir()
    for name, action in STANDINS.items():
        write_standin(bin_dir, name, action)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "STANDIN_LOG": str(log)}

    def read_log() -> list[list[str]]:
        text = log.read_text() if log.exists() else ""
        log.unlink(missing_ok=True)
        return [record.split("\x1f") for record in text.split("\x1e") if record]

    return env, read_log


def write_standin(bin_dir: Path, name: str, action: str = "") -> None:
    """A bash script called `name` that appends its name and argv to $STANDIN_LOG, then runs `action`."""
    path = bin_dir / name
    # one write per record (an O_APPEND write this small is atomic): stand-ins started together do not interleave
    path.write_text('#!/bin/bash\nrecord="$(basename "$0")"; for a in "$@"; do record+=$\'\\037\'"$a"; done\n'
                    f'printf "%s\\036" "$record" >> "$STANDIN_LOG"\n{action}')
    path.chmod(0o755)


def run(args: list[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not proc.stderr, proc.stderr  # "command not found" or any other complaint: something else ran
    return proc


def pwned(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith("PWNED")]


def sbatch_directives(script: str) -> list[list[str]]:
    """The #SBATCH lines as sbatch reads them (src/sbatch/opt.c, _get_argument): up to the first command line;
    each split at unquoted whitespace, quotes grouping, a backslash escaping, an unquoted # ending the line."""
    directives = []
    for line in script.splitlines()[1:]:
        if line.startswith("#SBATCH"):
            directives.append(_slurm_words(line[len("#SBATCH"):]))
        elif line.strip() and not line.startswith("#"):
            break
    return directives


def _slurm_words(text: str) -> list[str]:
    words, word, quote, escape, started = [], "", None, False, False
    for ch in text:
        if escape:
            word, escape, started = word + ch, False, True
        elif ch == "\\":
            escape = True
        elif quote:
            if ch == quote:
                quote = None
            else:
                word += ch
        elif ch in "\"'":
            quote, started = ch, True
        elif ch == "#":
            break
        elif ch.isspace():
            if started:
                words.append(word)
            word, started = "", False
        else:
            word, started = word + ch, True
    return words + ([word] if started else [])


def torchrun_argv(endpoint: str, run_id: str, graph: str, run_dir: str, *, node_rank: str | None = None) -> list:
    return ["torchrun", "--nnodes=2", "--nproc-per-node=2", "--rdzv-backend=c10d", f"--rdzv-endpoint={endpoint}",
            f"--rdzv-id={run_id}", "--max-restarts=3", *([f"--node-rank={node_rank}"] if node_rank else []),
            "-m", "engine", "train", graph, "--out", run_dir, "--strategy", "ddp", "--device", "cuda",
            "--resume-if-any"]


def launch(tmp_path: Path, out: Path, run_dir: Path, name: str = "iris mlp") -> tuple[int, dict]:
    doc = iris_mlp()
    doc.name = name
    graph = tmp_path / "g" / "iris.json"
    graph.parent.mkdir(exist_ok=True)
    save_document(doc, graph)
    code = main(["launch", str(graph), "--nodes", "2", "--gpus-per-node", "2", "--out", str(out),
                 "--rdzv-endpoint", "10.0.0.1:29500", "--run-dir", str(run_dir)])
    manifest = json.loads((out / "launch.json").read_text()) if code == 0 else {}
    return code, manifest


# -- launch bundles --------------------------------------------------------------------------------------
@pytest.mark.parametrize("hostile", ["folder", "run_dir", "both", "name", "neither"])
def test_bundle_files_run_only_the_launchers_with_the_paths_as_given(tmp_path, standins, capsys, hostile):
    env, read_log = standins
    out = tmp_path / (PAYLOAD if hostile in ("folder", "both") else "plain-bundle")
    run_dir = tmp_path / "shared" / (PAYLOAD if hostile in ("run_dir", "both") else "run")
    name = HOSTILE_NAME if hostile == "name" else "iris mlp"
    code, manifest = launch(tmp_path, out, run_dir, name)
    printed = capsys.readouterr().out
    assert code == 0
    run_id = manifest["plan"]["run_id"]
    assert run_id.startswith(slug(name) + "-")
    work = tmp_path / "cwd"
    work.mkdir()

    # torchrun.sh: exactly one torchrun, the hostile paths arriving as single arguments
    run(["sh", str(out / "torchrun.sh")], env, work)
    assert read_log() == [torchrun_argv("10.0.0.1:29500", run_id, str(out / "graph.json"), str(run_dir))]

    # slurm.sbatch: what sbatch reads in the #SBATCH lines, then what the script runs
    script = (out / "slurm.sbatch").read_text()
    directives = sbatch_directives(script)
    assert all(len(words) == 1 and words[0].startswith("--") for words in directives), directives
    options = dict(words[0][2:].partition("=")[::2] for words in directives)
    assert set(options) == SBATCH_OPTIONS and options["job-name"] == slug(name)
    assert options["output"] == ("slurm-%j.out" if hostile in ("folder", "both") else f"{out}/slurm-%j.out")
    comments = [line for line in script.splitlines() if line.startswith("#")]
    assert all(PAYLOAD not in line and "\x1b" not in line for line in comments)
    run(["sbatch", str(out / "slurm.sbatch")], env, work)
    assert read_log() == [["sbatch", str(out / "slurm.sbatch")], ["scontrol", "show", "hostnames", "node001"],
                          ["srun", *torchrun_argv("node001:29500", run_id, str(out / "graph.json"), str(run_dir))],
                          torchrun_argv("node001:29500", run_id, str(out / "graph.json"), str(run_dir))]
    assert run_dir.is_dir()  # `mkdir -p` got the hostile path as one word

    # skypilot.yaml: exactly the task's keys, every hostile string a plain value; its run script as above
    text = (out / "skypilot.yaml").read_text()
    task = yaml.safe_load(text)
    assert set(task) == SKY_KEYS and task["name"] == slug(name).lower()
    assert task["file_mounts"] == {BUNDLE_MOUNT: str(out)} and task["envs"] == {"OMP_NUM_THREADS": "1"}
    header = text[:text.index("name:")].splitlines()
    assert len(header) == 2 and all(line.startswith("# ") for line in header)
    assert all(PAYLOAD not in line and "\x1b" not in line for line in header)
    run(["bash", "-c", task["run"]], {**env, "SKYPILOT_NODE_IPS": "10.0.0.5\n10.0.0.6", "SKYPILOT_NODE_RANK": "1"},
        work)
    assert read_log() == [torchrun_argv("10.0.0.5:29500", run_id, f"{BUNDLE_MOUNT}/graph.json", str(run_dir),
                                        node_rank="1")]
    assert pwned(tmp_path) == []
    # what the command printed to copy: one shell word per path
    assert "\x1b" not in printed and f"sbatch {shlex.quote(str(out / 'slurm.sbatch'))}\n" in printed


def test_a_name_with_escape_codes_reaches_no_generated_file(tmp_path):
    doc = iris_mlp()
    doc.name = "a\x1b]0;title\x07\x1b[2J\x9b1m\u202e\nb"  # an in-memory graph (the app's Run on…)
    bundle = write_bundle(doc, tmp_path, LaunchPlan(nodes=2))
    for name in ("torchrun.sh", "skypilot.yaml", "slurm.sbatch"):
        text = bundle.path(name).read_text()
        assert not any(ch in text for ch in "\x1b\x07\x9b\u202e"), name
    assert set(yaml.safe_load(bundle.path("skypilot.yaml").read_text())) == SKY_KEYS


@pytest.mark.parametrize("folder", ["b\ntouch PWNED\n", "b\n#SBATCH --wrap=touch PWNED\n"])
def test_submitting_a_bundle_never_runs_a_line_hidden_in_its_folder_name(tmp_path, standins, folder):
    """The reported attack: a newline in --out ended the #SBATCH --output line and the next line ran."""
    env, read_log = standins
    work = tmp_path / "cwd"
    work.mkdir()
    try:
        bundle = write_bundle(iris_mlp(), tmp_path / folder, LaunchPlan(nodes=2, rdzv_endpoint="10.0.0.1:29500"))
    except ConfigError:
        return  # refused: nothing written to submit
    subprocess.run(["sbatch", str(bundle.path("slurm.sbatch"))], env=env, cwd=work, capture_output=True, timeout=60)
    subprocess.run(["sh", str(bundle.path("torchrun.sh"))], env=env, cwd=work, capture_output=True, timeout=60)
    assert pwned(tmp_path) == []
    assert all(len(words) == 1 for words in sbatch_directives(bundle.path("slurm.sbatch").read_text()))


@pytest.mark.parametrize("hostile", ["graph", "name", "study", "folder"])
def test_sweep_worker_scripts_start_only_the_workers_with_the_text_as_given(tmp_path, standins, hostile):
    """`layerloom sweep --bundle`: sbatch runs srun, srun the worker script, the script only `python -m engine
    sweep …` per worker — the graph path, study URL and sweep name arriving as single arguments."""
    env, read_log = standins
    write_standin(Path(env["PATH"].split(os.pathsep)[0]), "python")
    graph = tmp_path / (PAYLOAD if hostile == "graph" else "g") / "graph.json"
    url = f"sqlite:///{tmp_path / PAYLOAD / 'study.db'}" if hostile == "study" else "sqlite:///study.db"
    name = HOSTILE_NAME if hostile == "name" else "lr sweep"
    folder = write_sweep_workers(tmp_path / (PAYLOAD if hostile == "folder" else "bundle"), graph, url, name,
                                 nodes=2, workers_per_node=2)
    sbatch = folder / "sweep.sbatch"
    directives = sbatch_directives(sbatch.read_text())
    assert all(len(words) == 1 and words[0].startswith("--") for words in directives), directives
    assert dict(words[0][2:].partition("=")[::2] for words in directives)["job-name"] == slug(name)
    work = tmp_path / "cwd"
    work.mkdir()
    run(["sbatch", str(sbatch)], env, work)
    worker = ["python", "-m", "engine", "sweep", str(graph), "--study", url, "--name", name, "--worker",
              "--worker-index"]
    log = read_log()
    assert log[:2] == [["sbatch", str(sbatch)], ["srun", "sh", str(folder / "sweep-worker.sh")]]
    assert sorted(log[2:]) == [[*worker, "1"], [*worker, "2"]]
    assert pwned(tmp_path) == []


@pytest.mark.parametrize("bad", CONTROL_NAMES[:2])
def test_a_sweep_bundle_folder_with_a_control_character_is_refused(tmp_path, bad):
    with pytest.raises(ConfigError, match="--bundle"):
        write_sweep_workers(tmp_path / bad, tmp_path / "g.json", "sqlite:///s.db", "s", nodes=1, workers_per_node=1)
    assert not (tmp_path / bad).exists()


@pytest.mark.parametrize("option", ["--out", "--run-dir"])
@pytest.mark.parametrize("bad", CONTROL_NAMES)
def test_a_folder_with_a_control_character_is_refused_naming_the_option(tmp_path, capsys, option, bad):
    out = tmp_path / (bad if option == "--out" else "bundle")
    run_dir = tmp_path / (bad if option == "--run-dir" else "run")
    code, _ = launch(tmp_path, out, run_dir)
    err = capsys.readouterr().err
    assert code == 1 and err.startswith(f"error: {option}: ") and "control character" in err
    assert err.count("\n") == 1 and not any(ch in err for ch in "\r\x1b\x9b\u2028\u202e")  # shown escaped
    assert not (out / "launch.json").exists() and not (out / "slurm.sbatch").exists()
    assert pwned(tmp_path) == []
    with pytest.raises(ConfigError, match=re.escape(option)):
        write_bundle(iris_mlp(), out, LaunchPlan(run_dir=str(run_dir)))


def test_a_run_id_outside_the_safe_characters_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="run id"):
        write_bundle(iris_mlp(), tmp_path, LaunchPlan(run_id="x; touch PWNED"))


# -- the model card ------------------------------------------------------------------------------------------
CARD_NAME = "<script>alert(0)</script>\n# Injected heading\n```"
CARD_DESCRIPTION = """Intro line.
```python
<script>alert(1)</script>
<img src=x onerror=alert(2)>
# Fake heading
## Another
- item
+ item
* item
1. one
2) two
> quote
[link](javascript:alert(3)) ![img](http://x/y.png) <http://evil>
[ref]: javascript:alert(4)
    indented code
Setext
===
---
| a | b |
|---|---|
~~~
&lt;script&gt; &amp; **bold** _em_ `code` trailing\\
\x1b[31mred\x1b[0m <!-- comment"""


def hostile_card(tmp_path: Path) -> str:
    doc = iris_mlp()
    doc.name, doc.description = CARD_NAME, CARD_DESCRIPTION
    data = {"summary": "- <b>summary</b>\n# h", "task": "classification", "input_shape": [4],
            "input_dtype": "float32", "num_classes": 3, "class_names": ["<img src=x onerror=alert(5)>", "```", "a|b"],
            "raw": {"kind": "table", "columns": ["<script>", "`x`"]}, "normalization": None}
    python = {"code_path": "/x/<script>alert(6)</script>.py", "weights_path": "/x/a`b`` ```.safetensors"}
    card = build_card(doc, parameters=67, run=TrainedRun(data=data), python=python)
    _, md_path = write_card(card, tmp_path / "m.onnx")
    return md_path.read_text()


def fenced_lines(md: str) -> tuple[list[str], list[str]]:
    """(the lines outside code fences, the fences' opening lines), by CommonMark's fence rules."""
    outside, openings, fence = [], [], None
    for line in md.split("\n"):
        match = re.match(r" {0,3}(`{3,}|~{3,})(.*)$", line)
        if fence is None and match and not ("`" in match.group(2) and match.group(1)[0] == "`"):
            fence = match.group(1)
            openings.append(line)
        elif fence is not None:
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence) \
                    and not match.group(2).strip():
                fence = None
        else:
            outside.append(line)
    return outside, openings


def test_the_model_card_keeps_user_text_from_changing_its_structure(tmp_path):
    md = hostile_card(tmp_path)
    outside, openings = fenced_lines(md)
    assert openings == ["```json"]  # the training configuration: the card's only code block
    (warning,) = [line for line in outside if line.startswith(">")]  # the one quote: the card's own warning
    assert warning.startswith("> **Warning: UNTRAINED: no --weights given")
    headings = [line for line in outside if re.match(r" {0,3}#{1,6}(\s|$)", line)]
    assert len(headings) == 5 and headings[0].startswith("# ")
    assert headings[1:] == ["## Data", "## PyTorch code", "## Training configuration", "## Versions and machine"]
    items = [line for line in outside if re.match(r" {0,3}([-+*]|\d{1,9}[.)])(\s|$)", line)]
    assert items == [line for line in outside if line.startswith(("- task:", "- raw input:", "- standardisation:"))]
    assert len(items) == 3
    assert not [line for line in outside if line.startswith(("    ", "\t", ">", "|")) and not line.startswith("> **W")
                and not line.startswith(("| |", "|---|", "| input |", "| output |"))]
    assert "<" not in md and "\x1b" not in md and "](" not in md.replace("\\](", "")
    assert UNTRAINED in md  # the weights line
    assert "alert(1)" in md and "Fake heading" in md  # the description is still there, as text


def test_the_rendered_model_card_has_no_markup_from_user_text(tmp_path):
    markdown = pytest.importorskip("markdown")
    html = markdown.markdown(hostile_card(tmp_path), extensions=["fenced_code", "tables"])
    tags = set(re.findall(r"</?([a-zA-Z0-9]+)", html))
    assert tags <= {"h1", "h2", "p", "blockquote", "strong", "table", "thead", "tbody", "tr", "th", "td", "ul", "li",
                    "pre", "code"}, tags
    assert html.count("<h1>") == 1 and html.count("<h2>") == 4 and html.count("<li>") == 3
    assert html.count("<pre>") == 1 and html.count("<blockquote>") == 1
    assert re.findall(r"<[a-z0-9]+\s[^>]*>", html) == ['<code class="language-json">']  # no href, src, onerror
    quote = html[html.index("<blockquote>"):html.index("</blockquote>")]
    assert "<strong>Warning: UNTRAINED" in quote and "<code>" not in quote
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown, not run


@given(st.text(alphabet=st.sampled_from(list("`~*_#-+=>|<&[]()!\\:. \n\t\r1aZ\x1b\u2028")), max_size=40))
def test_markdown_text_renders_as_plain_paragraphs(text):
    markdown = pytest.importorskip("markdown")
    for multiline in (False, True):
        escaped = markdown_text(text, multiline=multiline)
        assert "<" not in escaped and "\x1b" not in escaped
        html = markdown.markdown(escaped, extensions=["fenced_code", "tables"])
        assert set(re.findall(r"</?([a-zA-Z0-9]+)", html)) <= {"p"}, (escaped, html)


def test_code_spans_hold_only_text_that_cannot_end_them():
    assert markdown_code("output1") == "`output1`" and markdown_code("/a b/m.onnx") == "`/a b/m.onnx`"
    assert markdown_code("a`b") == "a\\`b" and markdown_code("<b>") == "&lt;b&gt;" and markdown_code("") == ""


def test_a_fence_outlasts_every_backtick_run_inside():
    lines = markdown_fence('{"a": "````` ``` ~~~"}', "json")
    assert lines[0] == "``````json" and lines[-1] == "``````"


# -- terminal output -------------------------------------------------------------------------------------------
LABELS = ["\x1b[2J\x1b]0;owned\x07cleared", "two\nlines", "carriage\rreturn", "csi\x9b31m", "bidi\u202eevil",
          "sep\u2028arator"]


def test_layerloom_runs_shows_labels_with_control_characters_escaped(tmp_path, capsys):
    graph = tmp_path / "g.json"
    save_document(iris_mlp(), graph)
    store = tmp_path / "g.runs"
    folders = [f"run-{i}" for i in range(len(LABELS))] + ["esc\x1b[31m-folder"]
    for i, folder in enumerate(folders):
        (store / folder).mkdir(parents=True)
        label = LABELS[i] if i < len(LABELS) else folder
        (store / folder / "run.json").write_text(json.dumps({"label": label, "created": 1.7e9 + i}))
    assert main(["runs", str(graph)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 + len(folders)  # a title line, then one line per run: no forged lines
    assert not any(ch in out for ch in "\x1b\x07\r\x9b\u202e\u2028")
    assert "\\x1b[2J" in out and "two\\nlines" in out and "esc\\x1b[31m-folder" in out
    assert main(["runs", str(graph), "--json"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and [r["label"] for r in json.loads(out)["runs"]] == [*LABELS, folders[-1]]


def test_terminal_text_escapes_control_characters_and_keeps_the_rest():
    assert terminal_text("a\nb\tc\x1b[0m\x9b\u2028\u202eé 名 🙂") == "a\\nb\\tc\\x1b[0m\\x9b\\u2028\\u202eé 名 🙂"


def test_every_command_prints_control_characters_as_escapes(tmp_path, capsys):
    """Not only `runs`: whatever a command prints (here a missing file's name in validate's error) reaches
    the terminal without an escape sequence, and the caller's streams are its own again afterwards."""
    import sys

    from engine.cli import main as cli

    streams = sys.stdout, sys.stderr
    assert cli(["validate", str(tmp_path / "clear\x1b[2Jscreen\u202e.json")]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\u202e" not in err and "\\x1b[2J" in err
    assert (sys.stdout, sys.stderr) == streams


def test_the_terminal_pattern_escapes_exactly_the_control_characters_but_layout():
    from engine.text_safety import _TERMINAL_UNSAFE, is_control

    for code in [*range(0x3000), 0x202E, 0x2066, 0xFEFF, 0x1F600, 0xE0001]:
        ch = chr(code)
        assert bool(_TERMINAL_UNSAFE.match(ch)) == (is_control(ch) and ch not in "\n\t\r"), hex(code)
