"""Launch bundles (torchrun, SkyPilot, Slurm files) and elastic restarts under torchrun on CPU."""

import json
import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from torch.distributed.run import get_args_parser
from train_harness import iris_mlp, of_type

from engine.cli import main
from engine.errors import ConfigError
from engine.fileformat import load_document, save_document
from engine.launch.bundle import FRESH_STORE, LaunchPlan, write_bundle
from engine.train import read_events
from engine.train.distributed import resumes

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def torchrun_args(line: str):
    """Parse a generated torchrun line with torchrun's own argument parser."""
    words = shlex.split(line)
    assert words[0] == "torchrun"
    return get_args_parser().parse_args(words[1:])


def bash_syntax_ok(script: str) -> None:
    proc = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture
def bundle(tmp_path):
    doc = iris_mlp(dataset={"name": "csv", "path": "data/iris.csv", "target": "species"})
    graph = tmp_path / "g" / "iris.json"
    graph.parent.mkdir()
    save_document(doc, graph)
    out = tmp_path / "bundle"
    assert main(["launch", str(graph), "--nodes", "3", "--gpus-per-node", "4", "--out", str(out),
                 "--rdzv-endpoint", "10.1.2.3:29400", "--max-restarts", "2", "--strategy", "fsdp",
                 "--accelerator", "H100", "--run-dir", str(tmp_path / "shared" / "run")]) == 0
    return out, tmp_path


def test_bundle_holds_the_graph_its_settings_and_a_torchrun_line_for_every_host(bundle):
    out, tmp = bundle
    manifest = json.loads((out / "launch.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == sorted(manifest["files"])
    assert manifest["plan"]["nodes"] == 3 and manifest["run_dir"] == str(tmp / "shared" / "run")
    graph = load_document(out / "graph.json")
    assert graph.training["device"] == "cuda"
    assert graph.training["dataset"]["path"] == str(tmp / "g" / "data" / "iris.csv")  # every node must reach it
    config = json.loads((out / "config.json").read_text())
    assert config["batch_size"] == 16 and config["seed"] == 0 and config["schedule"]  # defaults written out
    assert len(manifest["commands"]) == 3
    args = torchrun_args(manifest["commands"][0])
    assert (args.nnodes, args.nproc_per_node, args.rdzv_backend, args.rdzv_endpoint, args.max_restarts) == \
        ("3", "4", "c10d", "10.1.2.3:29400", 2)
    assert args.rdzv_id == manifest["plan"]["run_id"] and args.rdzv_id.startswith("iris-mlp-")
    assert args.module and args.training_script == "engine"
    assert args.training_script_args == ["train", str(out / "graph.json"), "--out", str(tmp / "shared" / "run"),
                                         "--strategy", "fsdp", "--device", "cuda", "--resume-if-any"]
    script = (out / "torchrun.sh").read_text()
    bash_syntax_ok(script)
    assert os.access(out / "torchrun.sh", os.X_OK) and f"exec {manifest['commands'][0]}" in script
    assert f"export {FRESH_STORE}=${{{FRESH_STORE}:-1}}\nexec" in script  # a restarted group gets a store of its own


def test_skypilot_task_parses_and_rendezvouses_at_the_head_node(bundle):
    out, tmp = bundle
    task = yaml.safe_load((out / "skypilot.yaml").read_text())
    assert task["num_nodes"] == 3 and task["resources"] == {"accelerators": {"H100": 4}}
    assert f"\nexport {FRESH_STORE}=${{{FRESH_STORE}:-1}}\n" in task["run"]
    assert "pip install" in task["setup"] and Path(task["workdir"], "pyproject.toml").is_file()
    (mount, bundle_dir), = task["file_mounts"].items()
    assert bundle_dir == str(out)
    bash_syntax_ok(task["run"])
    line = next(x for x in task["run"].splitlines() if x.startswith("torchrun"))
    assert "SKYPILOT_NODE_IPS" in task["run"] and '--node-rank="$SKYPILOT_NODE_RANK"' in line
    expanded = line.replace("$HEAD", "10.0.0.5").replace("$SKYPILOT_NODE_RANK", "1")
    args = torchrun_args(expanded)
    assert (args.nnodes, args.nproc_per_node, args.rdzv_endpoint, args.max_restarts) == ("3", "4", "10.0.0.5:29500", 2)
    assert args.training_script_args[1] == f"{mount}/graph.json"


def test_slurm_script_is_valid_bash_and_asks_for_the_nodes_and_gpus(bundle):
    out, tmp = bundle
    script = (out / "slurm.sbatch").read_text()
    bash_syntax_ok(script)
    directives = dict(re.findall(r"^#SBATCH --([\w-]+)(?:=(.*))?$", script, re.M))
    assert directives["nodes"] == "3" and directives["gpus-per-node"] == "4" and directives["ntasks-per-node"] == "1"
    assert 'HEAD=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)' in script
    srun = next(x for x in script.splitlines() if x.startswith("srun "))
    assert f"export {FRESH_STORE}=${{{FRESH_STORE}:-1}}\nsrun " in script
    args = torchrun_args(srun.removeprefix("srun ").replace("$HEAD", "node001"))
    assert (args.nnodes, args.nproc_per_node, args.rdzv_endpoint, args.max_restarts) == ("3", "4", "node001:29500", 2)


def test_cpu_bundle_runs_one_process_per_node_and_asks_for_no_gpus(tmp_path):
    bundle = write_bundle(iris_mlp(), tmp_path, LaunchPlan(nodes=2, gpus_per_node=0))
    assert torchrun_args(bundle.commands[0]).nproc_per_node == "1"
    assert "--device cpu" in bundle.commands[0]
    assert "gpus-per-node" not in bundle.path("slurm.sbatch").read_text()
    assert "accelerators" not in yaml.safe_load(bundle.path("skypilot.yaml").read_text())["resources"]
    script = bundle.path("torchrun.sh").read_text()
    assert "LAYERLOOM_RDZV_ENDPOINT" in script  # no endpoint given: the script asks for it
    proc = subprocess.run(["sh", str(bundle.path("torchrun.sh"))], capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k != "LAYERLOOM_RDZV_ENDPOINT"})
    assert proc.returncode != 0 and "set LAYERLOOM_RDZV_ENDPOINT" in proc.stderr


@pytest.mark.parametrize("option, value, field", [
    ("nodes", 0, "--nodes"), ("rdzv_endpoint", "10.0.0.1", "--rdzv-endpoint"),
    ("rdzv_endpoint", "a b:1", "--rdzv-endpoint"), ("max_restarts", -1, "--max-restarts"),
    ("accelerator", "A100; rm", "--accelerator")])
def test_a_bad_plan_names_its_option(tmp_path, option, value, field):
    with pytest.raises(ConfigError, match=field):
        write_bundle(iris_mlp(), tmp_path, LaunchPlan(**{option: value}))
    assert not (tmp_path / "launch.json").exists()


def test_launch_command_reports_a_bad_endpoint(tmp_path, capsys):
    graph = tmp_path / "g.json"
    save_document(iris_mlp(), graph)
    assert main(["launch", str(graph), "--out", str(tmp_path / "b"), "--rdzv-endpoint", "nohost"]) == 1
    assert "--rdzv-endpoint: expected HOST:PORT" in capsys.readouterr().err


def test_a_restarted_worker_group_resumes_only_when_there_is_a_checkpoint(tmp_path, monkeypatch):
    monkeypatch.delenv("TORCHELASTIC_RESTART_COUNT", raising=False)
    assert not resumes(tmp_path, False, True) and resumes(tmp_path, True, False)
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    assert not resumes(tmp_path, False, False)  # failed before the first checkpoint: start over
    (tmp_path / "last.safetensors").write_bytes(b"\x02\x00\x00\x00\x00\x00\x00\x00{}")  # an empty safetensors file
    assert resumes(tmp_path, False, False)
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "0")
    assert not resumes(tmp_path, False, False) and resumes(tmp_path, False, True)


# -- under torchrun (slow: each spawns processes) ------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def elastic_run(tmp_path: Path, name: str, die_at_step: int) -> tuple[subprocess.CompletedProcess, Path]:
    graph = tmp_path / "iris.json"
    save_document(iris_mlp(epochs=3), graph)
    out = tmp_path / name
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc-per-node=2", "--max-restarts=3",
         "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{free_port()}", f"--rdzv-id={name}",
         str(HERE / "elastic_kill.py"), str(die_at_step), "train", str(graph), "--out", str(out)],
        cwd=ROOT, env=env(), capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc, out


@pytest.mark.slow
def test_killing_a_rank_restarts_the_group_which_resumes_and_ends_like_an_uninterrupted_run(tmp_path):
    _, whole = elastic_run(tmp_path, "whole", die_at_step=0)  # step 0 never comes: no kill
    proc, killed = elastic_run(tmp_path, "killed", die_at_step=6)  # 4 steps per epoch: mid epoch 2
    output = proc.stdout + proc.stderr
    assert re.search(r"exitcode\s*:\s*17", proc.stderr), output  # torchrun saw rank 1 die and restarted the group
    events = read_events(killed / "events.jsonl")
    starts = of_type(events, "started")
    resumed = [s["resumed_step"] for s in starts]
    # exactly one restart, and it resumed from epoch 1's checkpoint: no other failure (a refused gloo connect,
    # an abort at exit) made torchrun restart the group again
    assert resumed == [0, 4], output
    assert [e["state"] for e in of_type(events, "status")][-1] == "finished"
    assert json.loads((killed / "summary.json").read_text())["state"] == "finished"
    assert of_type(events, "step")[-1]["step"] == 12
    a, b = load_file(str(whole / "last.safetensors")), load_file(str(killed / "last.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(b[key], a[key], atol=0, rtol=0)  # bit for bit: data order, RNG, moments resumed


@pytest.mark.slow
def test_the_generated_torchrun_script_trains_on_two_nodes(tmp_path):
    """Two "nodes" on localhost: the bundle's torchrun.sh started twice, meeting at a c10d rendezvous."""
    graph = tmp_path / "iris.json"
    save_document(iris_mlp(epochs=1), graph)
    out = tmp_path / "bundle"
    endpoint = f"127.0.0.1:{free_port()}"
    assert main(["launch", str(graph), "--nodes", "2", "--gpus-per-node", "0", "--out", str(out),
                 "--rdzv-endpoint", endpoint, "--max-restarts", "0"]) == 0
    nodes = [subprocess.Popen(["sh", str(out / "torchrun.sh")], cwd=tmp_path, env=env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [node.communicate(timeout=180)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], "\n".join(outputs)
    events = read_events(out / "run" / "events.jsonl")
    (started,) = of_type(events, "started")
    assert started["world_size"] == 2 and started["steps_per_epoch"] == 4  # 120 samples over 2 ranks, batch 16
    assert [e["state"] for e in of_type(events, "status")] == ["started", "finished"]
