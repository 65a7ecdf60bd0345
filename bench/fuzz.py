"""The long fuzzing run: many more examples of tests/engine/test_fuzz_files.py's checks, with counts.

    python bench/fuzz.py [--files N] [--graphs N] [--onnx N] [--seed S]

`--files` mutated example graphs go through `layerloom validate` (each must exit 0, 1 or 2 with no
traceback, within 20 s), `--graphs` random valid graphs are exported to Python and checked against
the compiled module, `--onnx` of them also to ONNX with parity. Prints how many files ended in each
exit status and how many graphs passed; the first failure is shrunk by hypothesis and raised.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "engine")]

import test_fuzz_files as fuzz  # noqa: E402
from hypothesis import HealthCheck, given, note, seed, settings  # noqa: E402

from engine.compile import compile_graph  # noqa: E402
from engine.document import GraphDocument  # noqa: E402
from engine.fileformat import dumps  # noqa: E402


def run(label: str, examples: int, strategy, check, random_seed: int) -> Counter:
    """`check` on `examples` drawn values; the counter holds what each returned."""
    counts: Counter = Counter()
    if not examples:
        return counts

    @seed(random_seed)
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def property_(value):
        if isinstance(value, GraphDocument):
            note(dumps(value))  # shown with the failure
        with tempfile.TemporaryDirectory() as folder:
            counts[check(value, Path(folder))] += 1

    started = time.perf_counter()
    property_()
    print(f"{label}: {sum(counts.values())} in {time.perf_counter() - started:.0f} s — "
          + ", ".join(f"{outcome}: {n}" for outcome, n in sorted(counts.items())))
    return counts


def _python_export(doc, folder: Path) -> str:
    compile_graph(doc, with_loss=False)
    fuzz.check_python_export(doc, folder)
    return "exported and reproduced"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000, help="mutated graph files to validate (default 2000)")
    parser.add_argument("--graphs", type=int, default=200, help="random valid graphs to export to Python (default 200)")
    parser.add_argument("--onnx", type=int, default=30, help="random valid graphs to export to ONNX (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed (default 0)")
    args = parser.parse_args()
    statuses = run("validate, by exit status", args.files, fuzz.mutated_files(),
                   lambda text, folder: fuzz.check_validate(text, folder), args.seed)
    run("python export", args.graphs, fuzz.valid_graphs(), _python_export, args.seed)
    run("onnx export", args.onnx, fuzz.valid_graphs(), fuzz.check_onnx_export, args.seed)
    print(f"no crash, no traceback, no hang in {sum(statuses.values())} fuzzed files")


if __name__ == "__main__":
    main()
