"""Sweeps: trials are ordinary runs, the study reloads, the best trial reproduces, a killed sweep resumes
with only its missing trials, an invalid trial fails with the validation message and the sweep goes on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from engine.cli import main
from engine.config import TrainingConfig
from engine.experiments import sweep as sweeps
from engine.experiments.sweep_params import apply_values
from engine.fileformat import load_document, save_document
from engine.runs import is_run_dir, list_runs, new_run_dir, store_for

ROOT = Path(__file__).resolve().parents[2]
MLP = ROOT / "resources" / "examples" / "digits_mlp.json"
PROCESS_S = 240  # worker processes import torch on a busy 2-core machine


@pytest.fixture
def graph(tmp_path):
    path = tmp_path / "mlp.json"
    save_document(load_document(MLP), path)
    return path


def sweep_args(graph: Path, name: str, *extra: str) -> list[str]:
    return ["sweep", str(graph), "--name", name, "--epochs", "1", "--param", "training.optimizer.lr=log:1e-3:3e-2",
            "--param", "nodes.fc1.out_features=int:16:96", *extra]


def test_six_trials_in_two_workers_are_six_runs_of_a_study_that_reloads(graph, capsys):
    assert main(sweep_args(graph, "par", "--trials", "6", "--parallel", "2", "--sampler", "random")) == 0
    out = capsys.readouterr().out
    folder = sweeps.sweeps_folder(graph) / "par"
    data = sweeps.read_trials(folder)
    assert [t["state"] for t in data["trials"]].count("complete") + [t["state"] for t in data["trials"]].count(
        "pruned") == 6 and len(data["trials"]) == 6
    runs = [r for r in list_runs(store_for(graph)) if r.name.startswith("par-t")]
    assert len(runs) == 6 and {str(r.path) for r in runs} == {t["run_dir"] for t in data["trials"]}
    study = optuna.load_study(study_name="par", storage=sweeps.sqlite_url(folder))
    assert len(study.trials) == 6 and study.user_attrs["spec"]["trials"] == 6
    assert len({t.user_attrs["pid"] for t in study.trials}) == 2  # both workers took trials
    # the best trial's values, applied to the graph, give exactly the settings and graph that run trained
    best = data["best"]
    assert best["number"] == study.best_trial.number and f"best: trial {best['number']}" in out
    doc = load_document(graph)
    apply_values(doc, best["values"])
    run_dir = Path(best["run_dir"])
    config = json.loads((run_dir / "config.json").read_text())
    assert TrainingConfig.from_dict({**doc.training, "epochs": 1}).to_dict() == config
    trained = json.loads((run_dir / "graph.json").read_text())
    assert next(n for n in trained["nodes"] if n["id"] == "fc1")["params"]["out_features"] == \
        best["values"]["nodes.fc1.out_features"] == doc.nodes["fc1"].params["out_features"]


def test_a_killed_sweep_restarted_finishes_only_the_missing_trials(graph, tmp_path):
    command = [sys.executable, "-m", "engine", *sweep_args(graph, "kill", "--trials", "4", "--sampler", "random")]
    command[command.index("--epochs") + 1] = "3"
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    folder = sweeps.sweeps_folder(graph) / "kill"
    deadline = time.monotonic() + PROCESS_S
    while not any(t["state"] == "complete" for t in (sweeps.read_trials(folder) or {}).get("trials", [])):
        assert time.monotonic() < deadline and process.poll() is None, process.stderr.read() if process.poll() else ""
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before = {t["number"]: t for t in sweeps.read_trials(folder)["trials"] if t["state"] == "complete"}
    assert 1 <= len(before) < 4
    assert main(["sweep", str(graph), "--name", "kill"]) == 0  # resumed from its stored spec
    after = sweeps.read_trials(folder)
    counted = [t for t in after["trials"] if t["counted"]]
    assert len(counted) == 4 and all(t["state"] in ("complete", "pruned") for t in counted)
    for number, trial in before.items():  # what was done stays done, in its run folder
        assert next(t for t in after["trials"] if t["number"] == number) == trial
    runs = [r for r in list_runs(store_for(graph)) if r.name.startswith("kill-t")]
    assert sorted(str(r.path) for r in runs) == sorted(t["run_dir"] for t in counted)  # no half-run left over


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # the test asks for a trial by hand, outside optimize
def test_a_trial_left_running_by_a_dead_process_is_redone_with_its_values(graph):
    spec = sweeps.SweepSpec("stale", json.loads(graph.read_text()), str(graph),
                            [sweeps.SweepParam.parse("nodes.fc1.out_features=int:16:96")], 1, "random",
                            "val_loss", "minimize", 1)
    folder = sweeps.sweeps_folder(graph) / "stale"
    folder.mkdir(parents=True)
    url = sweeps.sqlite_url(folder)
    study = sweeps.create_study(spec, url)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    trial = study.ask({"nodes.fc1.out_features": optuna.distributions.IntDistribution(16, 96)})
    half_run = new_run_dir(store_for(graph), "stale-t000", graph)
    for key, value in (("host", os.uname().nodename), ("pid", dead.pid), ("run_dir", str(half_run))):
        trial.set_user_attr(key, value)
    sweeps.run_worker(spec, url, folder)
    trials = sweeps.read_trials(folder)["trials"]
    assert [(t["state"], t["counted"]) for t in trials] == [("fail", False), ("complete", True)]
    assert trials[1]["values"] == {"nodes.fc1.out_features": trial.params["nodes.fc1.out_features"]}
    assert not is_run_dir(half_run)


def test_an_invalid_trial_fails_with_the_validation_message_and_the_sweep_goes_on(graph, capsys):
    args = ["sweep", str(graph), "--name", "bad", "--epochs", "1", "--sampler", "grid",
            "--param", "nodes.flatten1.start_dim=choice:1,7"]
    assert main(args) == 0
    out = capsys.readouterr().out
    trials = sorted(sweeps.read_trials(sweeps.sweeps_folder(graph) / "bad")["trials"],
                    key=lambda t: t["values"]["nodes.flatten1.start_dim"])
    assert [t["state"] for t in trials] == ["complete", "fail"]
    assert "flatten1" in trials[1]["message"] and "start_dim" in trials[1]["message"]
    assert "flatten1" in out


def test_cli_refuses_what_it_cannot_sweep(graph, tmp_path, capsys):
    assert main(["sweep", str(graph), "--param", "nodes.nope.x=int:1:2"]) == 1
    assert "no node 'nope'" in capsys.readouterr().err
    assert main(["sweep", str(graph), "--name", "none"]) == 1
    assert "nothing to sweep" in capsys.readouterr().err
    assert main(["sweep", str(graph), "--worker"]) == 1
    assert "--worker needs --study URL" in capsys.readouterr().err
    assert main(["sweep", str(tmp_path / "missing.json"), "--param", "training.epochs=int:1:2"]) == 2
    assert main(["sweep", str(graph), "--name", "a/b", "--param", "training.epochs=int:1:2"]) == 1


def test_a_bundle_creates_the_study_and_scripts_that_start_workers_on_every_node(graph, tmp_path, capsys):
    import shlex

    url = sweeps.sqlite_url(tmp_path)  # stands in for a database every machine reaches
    name = "wide $(touch pwned) 'sweep'"
    assert main(["sweep", str(graph), "--param", "training.optimizer.lr=log:1e-4:1e-1", "--trials", "5",
                 "--study", url, "--name", name, "--bundle", str(tmp_path / "b"), "--nodes", "3",
                 "--parallel", "2"]) == 0
    assert "sbatch" in capsys.readouterr().out
    spec = sweeps.load_spec(url, None)  # the workers need nothing but the URL
    assert spec.name == name and spec.trials == 5 and not optuna.load_study(study_name=name, storage=url).trials
    script = (tmp_path / "b" / "sweep-worker.sh").read_text()
    line = next(line for line in script.splitlines() if "engine" in line)
    words = shlex.split(line.strip().removesuffix("&"))
    assert words[:5] == ["python", "-m", "engine", "sweep", str(graph)]
    assert words[words.index("--study") + 1] == url and words[words.index("--name") + 1] == name
    assert "for i in $(seq 2)" in script
    sbatch = (tmp_path / "b" / "sweep.sbatch").read_text()
    assert "#SBATCH --nodes=3" in sbatch and f"srun sh {shlex.quote(str(tmp_path / 'b' / 'sweep-worker.sh'))}" in sbatch
    assert not (Path.cwd() / "pwned").exists()
    assert main(["sweep", str(graph), "--param", "training.optimizer.lr=log:1e-4:1e-1", "--bundle", "x"]) == 1
