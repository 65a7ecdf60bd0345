"""Sweeps: Optuna searches training settings and node parameters; every trial is an ordinary run.

    my_cnn.json
    my_cnn.runs/                  the run store: each trial's run folder, `<sweep>-t003-<date>`, beside the others
    my_cnn.sweeps/<sweep>/        the sweep
        sweep.json                what it sweeps (SweepSpec: the graph as swept, params, trials, sampler, metric)
        study.db                  Optuna's storage (SQLite), unless the study lives at a URL given by --study
        trials.json               the trials as the sweep last saw them: values, metric, state, run folder,
                                  time, failure message; Optuna's parameter importances; the best trial
        workers/<host>-<pid>      one empty file per worker process while it runs

The spec — the graph as swept included — is also stored in the study (a user attribute), so a worker on
another machine needs only the study's URL and where the graph's file is there, for the trials' runs and
relative data paths (`layerloom sweep GRAPH --study URL --worker`). Workers pull trials until the study
holds `spec.trials` counted ones (`counted`): complete, pruned, failed with their own error, or running.
Each trial trains a copy of the graph with its values applied (sweep_params.apply_values) through
engine.train.loop.train, reporting the metric every epoch to Optuna's median pruner, which stops a
trial doing worse than the median of earlier ones at the same epoch. Its value is the best metric over
its epochs. A trial whose values make the graph invalid (or its settings, or its data) fails with the
error's message, and the sweep goes on — so does one that torch refuses mid-run (its run's events say how).

A trial cut short — its process killed, or the sweep asked to stop — is redone: it is marked failed
without an error of its own (so it no longer counts) and its values are queued again, and its unfinished
run folder is removed. A killed process's trials are found at the next start on the same machine (their
host and process id are recorded); a machine that died is found by Optuna's heartbeat (HEARTBEAT_S),
once its trials have been silent for GRACE_S.
"""

from __future__ import annotations

import json
import os
import socket
import time
import warnings
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .. import runs
from ..config import TrainingConfig
from ..errors import ConfigError, LayerloomError
from ..fileformat import atomic_write_text, from_dict
from .sweep_params import SweepParam, apply_values

SAMPLERS = ("tpe", "random", "grid")
SWEEPS_SUFFIX = ".sweeps"
SPEC_FILE, TRIALS_FILE, STUDY_FILE, WORKERS = "sweep.json", "trials.json", "study.db", "workers"
HEARTBEAT_S, GRACE_S = 60, 180
MIN_IMPORTANCE_TRIALS = 3  # complete trials before Optuna's importances say anything


class TrialFailed(Exception):
    """The trial's own failure (invalid graph, settings, data, a diverged run): Optuna records it as FAIL."""


class TrialInterrupted(Exception):
    """The sweep was asked to stop during this trial: it is queued again for the next start."""


@dataclass
class SweepSpec:
    name: str
    graph: dict  # the graph as swept (fileformat.to_dict)
    graph_path: str  # the graph's file: the trials' run store is beside it, relative data paths from its folder
    params: list[SweepParam]
    trials: int
    sampler: str = "tpe"
    metric: str = "val_loss"
    direction: str = "minimize"
    epochs: int | None = None  # overrides training.epochs in every trial
    seed: int = 0

    def to_dict(self) -> dict:
        return {**asdict(self), "params": [p.to_dict() for p in self.params]}

    @classmethod
    def from_dict(cls, data: dict) -> SweepSpec:
        return cls(**{**data, "params": [SweepParam.from_dict(p) for p in data["params"]]})

    @property
    def graph_file(self) -> Path:
        return Path(self.graph_path)


def sweeps_folder(graph_path: str | Path) -> Path:
    """`my_cnn.json` → `my_cnn.sweeps`, beside the run store."""
    path = Path(graph_path).expanduser().resolve()
    return path.with_name(path.stem + SWEEPS_SUFFIX)


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{(folder / STUDY_FILE).resolve()}"


def metric_direction(training: dict, metric: str | None) -> tuple[str, str]:
    """The metric trials are scored on (default: the graph's early-stopping monitor) and its direction."""
    chosen = metric or TrainingConfig.from_dict(training).early_stopping.monitor
    if chosen not in ("val_loss", "val_accuracy"):
        raise ConfigError(f"--metric: expected val_loss or val_accuracy, got {chosen!r}")
    return chosen, "maximize" if chosen == "val_accuracy" else "minimize"


def grid_size(params: list[SweepParam]) -> int:
    size = 1
    for param in params:
        size *= len(param.grid())
    return size


# -- the study -------------------------------------------------------------------------------------------
def storage(url: str):
    import optuna

    # the heartbeat (finding a dead machine's trials) is marked experimental in Optuna 5; we use it knowingly
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # SQLite serialises writers: a worker waits for the lock rather than failing after pysqlite's 5 s
    engine = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else None
    return optuna.storages.RDBStorage(url, engine_kwargs=engine, heartbeat_interval=HEARTBEAT_S,
                                      grace_period=GRACE_S, heartbeat_stale_trial_callback=_redo_stale)


def create_study(spec: SweepSpec, url: str):
    """The sweep's study, created or (when it exists) loaded; a study swept otherwise is refused."""
    import optuna

    study = optuna.create_study(study_name=spec.name, storage=storage(url), direction=spec.direction,
                                sampler=sampler(spec, 0), pruner=pruner(), load_if_exists=True)
    stored = study.user_attrs.get("spec")
    if stored is None:
        study.set_user_attr("spec", spec.to_dict())
    elif _sweep_of(stored) != _sweep_of(spec.to_dict()):
        raise ConfigError(f"sweep {spec.name!r} already exists and sweeps otherwise (or the graph changed since) — "
                          f"give another --name, or resume it with --name {spec.name} alone")
    return study


def load_spec(url: str, name: str | None) -> SweepSpec:
    """The spec stored in the study at `url` (`name` may be left out when the storage holds one study)."""
    import optuna

    names = optuna.study.get_all_study_names(storage=storage(url))
    if name is None:
        if len(names) != 1:
            raise ConfigError(f"--study {url}: holds {len(names)} studies ({', '.join(names) or 'none'}) — name "
                              f"one with --name")
        name = names[0]
    if name not in names:
        raise ConfigError(f"--study {url}: no sweep named {name!r} (it holds {', '.join(names) or 'none'})")
    spec = optuna.load_study(study_name=name, storage=storage(url)).user_attrs.get("spec")
    if not isinstance(spec, dict):
        raise ConfigError(f"--study {url}: study {name!r} is not a Layerloom sweep (it has no spec)")
    return SweepSpec.from_dict(spec)


def sampler(spec: SweepSpec, offset: int):
    """Grid, random or TPE; two workers (or a restarted sweep) seed theirs apart so they draw differently."""
    import optuna

    seed = spec.seed + offset
    if spec.sampler == "grid":
        return optuna.samplers.GridSampler({p.path: p.grid() for p in spec.params}, seed=seed)
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def pruner():
    import optuna

    return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)


def counted(trial) -> bool:
    """Whether a trial uses up one of the sweep's trials: not one cut short (redone), nor a surplus one."""
    from optuna.trial import TrialState

    if trial.user_attrs.get("surplus"):
        return False
    return trial.state != TrialState.FAIL or "failure" in trial.user_attrs


# -- a worker --------------------------------------------------------------------------------------------
def run_worker(spec: SweepSpec, url: str, folder: Path, *, worker: int = 0,
               stop: Callable[[], bool] = lambda: False, on_trial: Callable[[dict], None] | None = None) -> None:
    """Run trials of the study at `url` until it holds `spec.trials` counted ones or `stop()` says so."""
    import optuna

    study = optuna.load_study(study_name=spec.name, storage=storage(url), pruner=pruner())
    # each machine, worker and start draws its own values (the same ones again for the same machine and start)
    offset = zlib.crc32(socket.gethostname().encode()) % 10_000 * 1000 + 100 * worker
    study.sampler = sampler(spec, offset + len(study.get_trials(deepcopy=False)))
    me = folder / WORKERS / f"{socket.gethostname()}-{os.getpid()}"
    me.parent.mkdir(parents=True, exist_ok=True)
    me.touch()
    try:
        _work(spec, study, url, folder, stop, on_trial)
    finally:
        me.unlink(missing_ok=True)


def _work(spec: SweepSpec, study, url: str, folder: Path, stop: Callable[[], bool],
          on_trial: Callable[[dict], None] | None) -> None:
    redo_killed(study, folder, local=url == sqlite_url(folder))

    def objective(trial) -> float:
        return _run_trial(spec, study, trial, stop)

    def done(study, trial) -> None:
        write_trials(study, spec, folder)
        if on_trial is not None:
            on_trial(trial_row(spec, trial))

    write_trials(study, spec, folder)
    while not stop() and _taken(study) < spec.trials:
        study.optimize(objective, n_trials=1, catch=(TrialFailed, TrialInterrupted), callbacks=[done])
    write_trials(study, spec, folder)  # another worker may have written an older view after our last trial


def _taken(study) -> int:
    """Counted trials that a worker has taken (a queued one, a redo, waits for the next worker to ask)."""
    from optuna.trial import TrialState

    return sum(counted(t) and t.state != TrialState.WAITING for t in study.get_trials(deepcopy=False))


def _run_trial(spec: SweepSpec, study, trial, stop: Callable[[], bool]) -> float:
    import optuna

    from ..train.loop import train

    place = [t.number for t in study.get_trials(deepcopy=False) if counted(t)].index(trial.number)
    if place >= spec.trials:  # another worker took the last trial between our count and this one
        trial.set_user_attr("surplus", True)
        raise optuna.TrialPruned()
    values = {p.path: p.value_of(p.suggest(trial)) for p in spec.params}
    trial.set_user_attr("values", values)
    trial.set_user_attr("host", socket.gethostname())
    trial.set_user_attr("pid", os.getpid())
    doc = from_dict(spec.graph, source=spec.name)
    store = runs.store_for(spec.graph_file)
    run_dir = runs.new_run_dir(store, f"{spec.name}-t{trial.number:03d}", spec.graph_file)
    runs.rename_run(run_dir, f"{spec.name} · trial {trial.number}")
    trial.set_user_attr("run_dir", str(run_dir))
    pruned = []

    def on_event(event: dict) -> None:
        value = event.get(spec.metric) if event.get("type") == "epoch" else None
        if isinstance(value, (int, float)):
            trial.report(value, event["epoch"])
            if event["epoch"] < epochs and trial.should_prune():  # after the last epoch there is nothing to save
                pruned.append(event["epoch"])

    try:
        apply_values(doc, values)
        epochs = spec.epochs or TrainingConfig.from_dict(doc.training).epochs
        result = train(doc, run_dir, epochs=spec.epochs, on_event=on_event, stop=lambda: bool(pruned) or stop(),
                       base_dir=spec.graph_file.parent, graph_path=spec.graph_file)
    except LayerloomError as exc:
        trial.set_user_attr("failure", str(exc))
        raise TrialFailed(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - torch refusing these values mid-run: the run's events hold it too
        message = f"{type(exc).__name__}: {exc}"
        trial.set_user_attr("failure", message)
        raise TrialFailed(message) from exc
    if pruned:
        raise optuna.TrialPruned(f"pruned at epoch {pruned[0]}: worse than the median of earlier trials")
    if result.state == "stopped":
        _redo(study, trial, run_dir)
        raise TrialInterrupted("the sweep was stopped during this trial; it is redone when the sweep resumes")
    scores = [e.get(spec.metric) for e in runs.run_events(run_dir) if e.get("type") == "epoch"]
    scores = [s for s in scores if isinstance(s, (int, float))]
    if result.state == "failed" or not scores:
        message = result.message or f"the run reported no {spec.metric}"
        trial.set_user_attr("failure", message)
        raise TrialFailed(message)
    return max(scores) if spec.direction == "maximize" else min(scores)


def redo_killed(study, folder: Path, local: bool) -> None:
    """Trials left running by a process of this machine that no longer exists: queued again (see the docstring).

    A trial killed between its creation and its first line has no process id yet; in a local study (the
    sweep folder's SQLite, whose workers all run here) it is one of them when no other worker is alive."""
    from optuna.trial import TrialState

    host = socket.gethostname()
    alone = local and not any(_alive(pid) for pid in _workers(folder) if pid != os.getpid())
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid = trial.user_attrs.get("pid")
        mine = trial.user_attrs.get("host") == host and isinstance(pid, int) and not _alive(pid)
        if mine or (alone and pid is None):
            study.tell(trial.number, state=TrialState.FAIL)
            _redo(study, trial, trial.user_attrs.get("run_dir"))


def _workers(folder: Path) -> list[int]:
    """Process ids of this machine's workers that registered in the sweep folder (WORKERS/<host>-<pid>)."""
    prefix = f"{socket.gethostname()}-"
    try:
        names = [p.name for p in (folder / WORKERS).iterdir()]
    except OSError:
        return []
    return [int(n[len(prefix):]) for n in names if n.startswith(prefix) and n[len(prefix):].isdigit()]


def _redo_stale(study, trial) -> None:
    """Optuna's heartbeat found `trial` silent (its machine died): queue its values again."""
    _redo(study, trial, trial.user_attrs.get("run_dir"))


def _redo(study, trial, run_dir: str | Path | None) -> None:
    if trial.params:
        study.enqueue_trial(dict(trial.params), user_attrs={"redo_of": trial.number})
    if run_dir and runs.is_run_dir(Path(run_dir)):
        runs.delete_run(run_dir)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


# -- what the sweep folder says ---------------------------------------------------------------------------
def trial_row(spec: SweepSpec, trial) -> dict[str, Any]:
    started, ended = trial.datetime_start, trial.datetime_complete
    return {
        "number": trial.number, "state": trial.state.name.lower(), "counted": counted(trial),
        "values": trial.user_attrs.get("values") or {p.path: p.value_of(trial.params[p.path])
                                                     for p in spec.params if p.path in trial.params},
        "value": trial.value, "run_dir": trial.user_attrs.get("run_dir"),
        "seconds": (ended - started).total_seconds() if started and ended else None,
        "message": trial.user_attrs.get("failure") or ("" if trial.state.name != "PRUNED" else
                                                       f"pruned after epoch {trial.last_step}"),
        "curve": {str(k): v for k, v in sorted(trial.intermediate_values.items())},
    }


def write_trials(study, spec: SweepSpec, folder: Path) -> None:
    """trials.json: every trial, the best one and Optuna's parameter importances (atomically: the app reads it)."""
    from optuna.trial import TrialState

    ranked = importances(study, spec)  # first: it takes a while, and the trials are read after it, fresh
    trials = study.get_trials(deepcopy=False)
    rows = [trial_row(spec, t) for t in trials if not t.user_attrs.get("surplus")]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = None
    if complete:
        pick = max if spec.direction == "maximize" else min
        best = trial_row(spec, pick(complete, key=lambda t: t.value))
    data = {"name": spec.name, "metric": spec.metric, "direction": spec.direction, "trials_wanted": spec.trials,
            "params": [p.to_dict() for p in spec.params], "trials": rows, "best": best,
            "importances": ranked, "updated": time.time()}
    atomic_write_text(Path(folder) / TRIALS_FILE, json.dumps(data, indent=1, allow_nan=False, default=str) + "\n")


def importances(study, spec: SweepSpec) -> dict[str, float]:
    """Optuna's fANOVA importance of each swept parameter for the metric ({} until enough trials vary)."""
    import optuna
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < MIN_IMPORTANCE_TRIALS or len({t.value for t in complete}) < 2:
        return {}
    try:
        found = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=spec.seed))
    except (RuntimeError, ValueError):  # a parameter with one value in every complete trial
        return {}
    return {name: float(value) for name, value in found.items()}


def read_trials(folder: str | Path) -> dict | None:
    """The sweep folder's trials.json, or None while it has none (or it is torn)."""
    try:
        data = json.loads((Path(folder) / TRIALS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _sweep_of(spec: dict) -> dict:
    """What must match for a sweep to be resumed: everything but where the graph's file is."""
    return {k: v for k, v in spec.items() if k != "graph_path"}
