"""A launch bundle: one folder with everything needed to train a graph on N nodes × G GPUs.

    launch.json     what was asked for (nodes, GPUs, rendezvous, restarts, strategy, run folder, run id)
                    and the command each host runs — the app shows these to copy
    graph.json      the graph (dataset paths made absolute: every node must reach them)
    config.json     its training settings as resolved, every default written out
    torchrun.sh     the command to start on every host (c10d rendezvous: no host needs a rank)
    skypilot.yaml   a SkyPilot task: num_nodes, accelerators, setup installing Layerloom, the same torchrun
    slurm.sbatch    a Slurm batch script: srun runs the same torchrun on every node, the head node as endpoint

Every launcher runs `python -m engine train graph.json --out RUN_DIR --resume-if-any` under
torchrun's elastic agent: `--max-restarts K` restarts a failed worker group, and a requeued or
re-run job finds the last checkpoint in RUN_DIR and continues from it. RUN_DIR is meant to be on
storage every node shares (NFS, a bucket mount): only rank 0 writes there, and the app can follow
it live (follow.py). Nothing here imports torch.

Every launcher also sets TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 (unless set already). Otherwise the agents
keep one TCPStore across restarts, and a restarted group finds the dead group's gloo/nccl addresses in it
under the keys it is about to use, and may connect to those (pytorch/pytorch#135712). `join_group` in
engine/train/distributed.py works around that on one host; across hosts no attempt number is common to
every agent, so the bundles ask torch for a fresh store each rendezvous round (hosted by rank 0) instead.

No text the user wrote runs as a command or changes a file's structure (issue 26):

  * shell (torchrun.sh, the SkyPilot `run` script, the body of slurm.sbatch): every path, id and argument
    is one `shlex.quote`d word; the only unquoted expansions are the script's own ($HEAD, $SKYPILOT_…).
  * YAML (skypilot.yaml): the task is a dict written by `yaml.safe_dump`, so every user value is a scalar;
    nothing is concatenated into YAML text.
  * comments and `#SBATCH` lines: the shell does not read them, but sbatch does — it takes a `#SBATCH`
    line up to its newline, splits it at spaces and quotes of its own, stops at `#` and expands `%`
    patterns in --output — and a newline in a comment starts a line the shell runs. So these carry only
    the graph's name as a slug ([A-Za-z0-9_.-]) and paths made of `PLAIN_PATH` characters; a path
    with any other character is left out (the Slurm log then goes to the folder sbatch is run in, and
    the comment says to submit from the bundle folder).
  * control characters (newline, CR, ESC, …) in the bundle folder or the run folder are refused with a
    ConfigError naming --out or --run-dir, rather than sanitised: the path is where the job writes, and a
    changed path would be a different folder. Every other character is allowed (quoted as above).
"""

from __future__ import annotations

import json
import re
import shlex
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..config import TrainingConfig
from ..document import GraphDocument
from ..errors import ConfigError
from ..fileformat import atomic_write_text, to_dict
from ..runs import slug
from ..text_safety import control_in, terminal_text

DEFAULT_PORT = 29500
# A fresh c10d store per rendezvous round instead of the agents' shared one (see the module's docstring);
# `${VAR:-1}` keeps a value the user set.
FRESH_STORE = "TORCH_DISABLE_SHARE_RDZV_TCP_STORE"
EXPORT_FRESH_STORE = f"export {FRESH_STORE}=${{{FRESH_STORE}:-1}}"
STRATEGIES = ("ddp", "fsdp")
FILES = ("launch.json", "graph.json", "config.json", "torchrun.sh", "skypilot.yaml", "slurm.sbatch")
BUNDLE_MOUNT = "/layerloom/bundle"  # where SkyPilot puts the bundle on every node
PROJECT_ROOT = Path(__file__).resolve().parents[2]
_ENDPOINT = re.compile(r"[A-Za-z0-9._-]+:\d{1,5}|\[[0-9A-Fa-f:]+\]:\d{1,5}")
_RUN_ID = re.compile(r"[A-Za-z0-9_.-]*")
# The characters of a path written into a comment or a #SBATCH line: none that sbatch's directive parser
# (whitespace, quotes, backslash, #) or its filename patterns (%) read, none that ends a line.
PLAIN_PATH = re.compile(r"[A-Za-z0-9_./+,:@=~-]+")


@dataclass(frozen=True)
class LaunchPlan:
    """How to run: `gpus_per_node` 0 means CPU nodes (one process each, gloo) — what tests use."""

    nodes: int = 1
    gpus_per_node: int = 1
    rdzv_endpoint: str | None = None  # HOST:PORT of the first node; None: torchrun.sh asks for it
    max_restarts: int = 3
    strategy: str = "ddp"
    accelerator: str = "A100"  # SkyPilot's accelerator name
    run_dir: str | None = None  # None: <bundle>/run
    run_id: str = field(default="")  # the rendezvous id every node shares; "" picks one

    def check(self) -> None:
        """Raise ConfigError naming the option that is out of range."""
        if self.nodes < 1:
            raise ConfigError(f"--nodes: at least 1, got {self.nodes}")
        if self.gpus_per_node < 0:
            raise ConfigError(f"--gpus-per-node: 0 (CPU nodes) or more, got {self.gpus_per_node}")
        if self.max_restarts < 0:
            raise ConfigError(f"--max-restarts: 0 or more, got {self.max_restarts}")
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"--strategy: expected one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
        if self.rdzv_endpoint is not None and not _ENDPOINT.fullmatch(self.rdzv_endpoint):
            raise ConfigError(f"--rdzv-endpoint: expected HOST:PORT (e.g. 10.0.0.1:{DEFAULT_PORT}), "
                              f"got {self.rdzv_endpoint!r}")
        if not re.fullmatch(r"[A-Za-z0-9_.-]*", self.accelerator) or not self.accelerator:
            raise ConfigError(f"--accelerator: a SkyPilot accelerator name such as A100 or H100, "
                              f"got {self.accelerator!r}")
        if not _RUN_ID.fullmatch(self.run_id):
            raise ConfigError(f"run id: letters, digits and . _ - only, got {self.run_id!r}")

    @property
    def procs_per_node(self) -> int:
        return max(self.gpus_per_node, 1)

    @property
    def device(self) -> str:
        return "cuda" if self.gpus_per_node else "cpu"


@dataclass
class Bundle:
    folder: Path
    plan: LaunchPlan
    run_dir: Path
    commands: list[str]  # the shell command host i runs (the same on every host under c10d)

    def path(self, name: str) -> Path:
        return self.folder / name


def write_bundle(doc: GraphDocument, folder: str | Path, plan: LaunchPlan,
                 base_dir: str | Path | None = None) -> Bundle:
    """Write the launch bundle of `doc` into `folder` (created); `base_dir` resolves relative dataset paths.

    Raises ConfigError for a bad plan or training section, OSError when the folder cannot be written."""
    plan.check()
    config = TrainingConfig.from_dict({**doc.training, "device": plan.device})
    folder = Path(folder).expanduser().resolve()
    check_path("--out", folder)
    run_dir = Path(plan.run_dir).expanduser().resolve() if plan.run_dir else folder / "run"
    check_path("--run-dir", run_dir)
    if not plan.run_id:
        plan = LaunchPlan(**{**asdict(plan), "run_id": f"{slug(doc.name)}-{time.strftime('%Y%m%d-%H%M%S')}"})
    graph = to_dict(doc)
    graph["training"] = {**graph.get("training", {}), "device": plan.device,
                         "dataset": absolute_paths(config.dataset, base_dir)}
    folder.mkdir(parents=True, exist_ok=True)
    graph_file = folder / "graph.json"
    train = train_command(graph_file, run_dir, plan)
    torchrun = torchrun_command(plan, _endpoint(plan), shlex.quote(plan.run_id), train)
    commands = [torchrun] * plan.nodes
    _write(folder / "graph.json", json.dumps(graph, indent=2) + "\n")
    _write(folder / "config.json", json.dumps({**config.to_dict(), "dataset": graph["training"]["dataset"]},
                                              indent=2) + "\n")
    _write(folder / "torchrun.sh", torchrun_script(plan, torchrun), executable=True)
    _write(folder / "skypilot.yaml", skypilot_task(doc.name, plan, folder, run_dir))
    _write(folder / "slurm.sbatch", slurm_script(doc.name, plan, train, folder, run_dir), executable=True)
    manifest = {"format": "layerloom-launch", "version": 1, "graph": doc.name, "plan": asdict(plan),
                "run_dir": str(run_dir), "commands": commands, "files": list(FILES)}
    _write(folder / "launch.json", json.dumps(manifest, indent=2) + "\n")
    return Bundle(folder, plan, run_dir, commands)


def check_path(option: str, path: Path) -> None:
    """Refuse a path holding a control character: a newline would end a `#SBATCH` line or a comment in the
    generated files and start a line of its own (see the module's docstring for why refuse, not sanitise)."""
    bad = control_in(str(path))
    if bad is not None:
        raise ConfigError(f"{option}: the path holds a control character ({bad}), which the Slurm and SkyPilot "
                          f"files cannot carry safely — choose a folder name without line breaks or escape codes: "
                          f"{terminal_text(path)}")


def plain_path(path: Path) -> str | None:
    """`path` as written into a comment or a `#SBATCH` line, or None when it holds a character that either
    would read (a space, a quote, a backslash, #, %, …): then the line leaves the path out."""
    text = str(path)
    return text if PLAIN_PATH.fullmatch(text) else None


def absolute_paths(dataset: dict, base_dir: str | Path | None) -> dict:
    """The dataset settings with a relative "path" made absolute against `base_dir` (the graph's folder)."""
    path = dataset.get("path")
    if base_dir is None or not isinstance(path, str) or not path or Path(path).expanduser().is_absolute():
        return dict(dataset)
    return {**dataset, "path": str((Path(base_dir) / path).resolve())}


def train_command(graph_file: Path, run_dir: Path, plan: LaunchPlan) -> list[str]:
    """What torchrun starts on every process: Layerloom's own train command, resuming what RUN_DIR holds."""
    return ["-m", "engine", "train", str(graph_file), "--out", str(run_dir), "--strategy", plan.strategy,
            "--device", plan.device, "--resume-if-any"]


def torchrun_command(plan: LaunchPlan, endpoint: str, run_id: str, train: list[str], *,
                     node_rank: str | None = None) -> str:
    """One torchrun line in shell syntax. `endpoint`, `run_id` and `node_rank` are inserted as given (already
    quoted), so they may be shell expansions such as "$HEAD:29500"; `train` is quoted here."""
    line = (f"torchrun --nnodes={plan.nodes} --nproc-per-node={plan.procs_per_node} --rdzv-backend=c10d "
            f"--rdzv-endpoint={endpoint} --rdzv-id={run_id} --max-restarts={plan.max_restarts}")
    if node_rank is not None:
        line += f" --node-rank={node_rank}"
    return line + " " + " ".join(shlex.quote(a) for a in train)


def _endpoint(plan: LaunchPlan) -> str:
    if plan.rdzv_endpoint:
        return shlex.quote(plan.rdzv_endpoint)
    return f'"${{LAYERLOOM_RDZV_ENDPOINT:?set LAYERLOOM_RDZV_ENDPOINT to the first host as HOST:{DEFAULT_PORT}}}"'


def torchrun_script(plan: LaunchPlan, torchrun: str) -> str:
    hosts = "this host" if plan.nodes == 1 else f"each of the {plan.nodes} hosts, in any order"
    return (f"#!/bin/sh\n"
            f"# Layerloom launch: run this on {hosts} (with Layerloom installed, this bundle and the run\n"
            f"# folder on storage every host shares). torchrun restarts a failed worker group up to\n"
            f"# {plan.max_restarts} times; each restart resumes from the last checkpoint.\n"
            f"set -e\n"
            f"# a fresh c10d store for each restarted group, not the dead group's keys (pytorch/pytorch#135712)\n"
            f"{EXPORT_FRESH_STORE}\n"
            f"exec {torchrun}\n")


def skypilot_task(name: str, plan: LaunchPlan, folder: Path, run_dir: Path) -> str:
    """A SkyPilot task YAML: the bundle is mounted on every node, the head node's IP is the rendezvous."""
    import yaml

    train = train_command(Path(BUNDLE_MOUNT) / "graph.json", run_dir, plan)
    head = 'HEAD=$(echo "$SKYPILOT_NODE_IPS" | head -n1)'
    torchrun = torchrun_command(plan, f'"$HEAD:{DEFAULT_PORT}"', shlex.quote(plan.run_id), train,
                                node_rank='"$SKYPILOT_NODE_RANK"')
    resources = {"accelerators": {plan.accelerator: plan.gpus_per_node}} if plan.gpus_per_node else {"cpus": "2+"}
    task = {
        "name": slug(name).lower(),
        "num_nodes": plan.nodes,
        "resources": resources,
        "workdir": str(PROJECT_ROOT),
        "file_mounts": {BUNDLE_MOUNT: str(folder)},
        "envs": {"OMP_NUM_THREADS": "1"},
        "setup": "set -e\npip install -c constraints.txt .\n",
        "run": f"set -e\n{head}\n{EXPORT_FRESH_STORE}\nmkdir -p {shlex.quote(str(run_dir))}\n{torchrun}\n",
    }
    task_file, run_folder = plain_path(folder / "skypilot.yaml"), plain_path(run_dir)
    header = (f"# SkyPilot task for {slug(name)}: `sky launch -c layerloom {task_file or 'skypilot.yaml'}`"
              f"{'' if task_file else ' in the bundle folder'}.\n"
              f"# The run folder{' ' + run_folder if run_folder else ' (run_dir in launch.json)'} should be shared "
              f"storage (a bucket or NFS mount) to follow the run live.\n")
    return header + yaml.safe_dump(task, sort_keys=False, default_flow_style=False)


def slurm_script(name: str, plan: LaunchPlan, train: list[str], folder: Path, run_dir: Path) -> str:
    """A Slurm batch script: one torchrun per node via srun; the first node of the allocation is the rendezvous.

    The `#SBATCH` lines hold the name as a slug, numbers, and the bundle folder only when it is a `plain_path`;
    otherwise the log goes to the folder sbatch is run in (`--output=slurm-%j.out`) and the comment says to
    submit from the bundle folder. The body quotes every path (shlex)."""
    plain = plain_path(folder)
    lines = ["#!/bin/bash", f"#SBATCH --job-name={slug(name)}", f"#SBATCH --nodes={plan.nodes}",
             "#SBATCH --ntasks-per-node=1"]
    if plan.gpus_per_node:
        lines.append(f"#SBATCH --gpus-per-node={plan.gpus_per_node}")
    submit = (f"# Submit with `sbatch {plain}/slurm.sbatch` from a node that sees this bundle and the run folder."
              if plain else "# Submit with `sbatch slurm.sbatch` from this bundle's folder (its log is written to the "
                            "folder sbatch runs in),\n# on a node that sees this bundle and the run folder.")
    lines += [f"#SBATCH --output={plain + '/' if plain else ''}slurm-%j.out", "#SBATCH --requeue", "", submit,
              "set -euo pipefail", f"mkdir -p {shlex.quote(str(run_dir))}",
              'HEAD=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
              "export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}", EXPORT_FRESH_STORE,
              "srun " + torchrun_command(plan, f'"$HEAD:{DEFAULT_PORT}"', shlex.quote(plan.run_id), train),
              ""]
    return "\n".join(lines)


def _write(path: Path, text: str, executable: bool = False) -> None:
    atomic_write_text(path, text)
    if executable:
        path.chmod(0o755)
