"""`torchrun … tests/engine/elastic_kill.py STEP train …`: `layerloom train`, except that in the first
attempt that reaches optimizer step STEP rank 1 dies with os._exit right after it — a worker lost
mid-run, as a killed process or a lost node looks to torchrun's elastic agent. A file `killed` in the
run folder marks the kill as done, so a group restarted for any other reason (a slow gloo connect on a
busy machine) still sees exactly one kill."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine.cli import main  # noqa: E402
from engine.train.trainer import Trainer  # noqa: E402


def die_at(step: int) -> None:
    record = Trainer._record

    def _record(self, *args, **kwargs):
        record(self, *args, **kwargs)
        mark = self.run_dir / "killed"
        if self.step == step and self.s.dist.rank == 1 and not mark.exists():
            mark.touch()
            os._exit(17)

    Trainer._record = _record


if __name__ == "__main__":
    die_at(int(sys.argv[1]))
    sys.exit(main(sys.argv[2:]))
