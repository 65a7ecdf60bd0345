"""Sweep workers on many machines: the scripts `layerloom sweep … --study URL --bundle DIR` writes.

    sweep-worker.sh   starts W workers on the machine it runs on (`layerloom sweep GRAPH --study URL --name
                      NAME --worker`), each pulling trials from the shared study until it is done, and waits
    sweep.sbatch      a Slurm batch script: srun runs sweep-worker.sh once on each of N nodes

The study (a database every machine reaches: PostgreSQL, MySQL, or SQLite on shared storage) already
holds the sweep's spec — the graph and what to sweep — when these are written, so a worker needs only its
URL; GRAPH is the graph file as the machines see it (its run store, beside it, on shared storage, gets
the trials' runs). As in bundle.py, every path, URL and name in the shell is one `shlex.quote`d word and
the `#SBATCH` lines hold only a slug and numbers. Nothing here imports torch or Optuna.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from ..fileformat import atomic_write_text
from ..runs import slug
from .bundle import check_path


def write_sweep_workers(folder: str | Path, graph_file: Path, study_url: str, name: str, *, nodes: int,
                        workers_per_node: int) -> Path:
    """Write the two scripts into `folder` (created); returns the folder."""
    folder = Path(folder).resolve()
    check_path("--bundle", folder)
    folder.mkdir(parents=True, exist_ok=True)
    worker = ["python", "-m", "engine", "sweep", str(graph_file), "--study", study_url, "--name", name, "--worker"]
    script = folder / "sweep-worker.sh"
    atomic_write_text(script, "\n".join([
        "#!/bin/sh",
        f"# {workers_per_node} sweep worker(s) on this machine, pulling trials of sweep {slug(name)} until it is done.",
        "set -eu",
        f"for i in $(seq {workers_per_node}); do",
        f"  {shlex.join(worker)} --worker-index \"$i\" &",
        "done",
        "wait",
        ""]))
    script.chmod(0o755)
    atomic_write_text(folder / "sweep.sbatch", "\n".join([
        "#!/bin/bash",
        f"#SBATCH --job-name={slug(name)}",
        f"#SBATCH --nodes={nodes}",
        "#SBATCH --ntasks-per-node=1",
        "#SBATCH --requeue",
        "# Submit with `sbatch sweep.sbatch` from this folder; a requeued job's workers redo only unfinished trials.",
        "set -euo pipefail",
        f"srun sh {shlex.quote(str(script))}",
        ""]))
    return folder
