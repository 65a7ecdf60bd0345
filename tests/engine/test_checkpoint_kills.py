"""kill -9 during checkpoint saves: whatever the moment, a complete checkpoint remains and resume works,
and what the killed saves left is removed by the next one.

The saver is a forked copy of this process (torch is already imported here; a fresh interpreter
would pay 3–4 s per kill). Every tensor of a test checkpoint holds its step, so a checkpoint mixed
from two saves shows.
"""

import itertools
import os
import random
import signal
import time

import pytest
import torch
from safetensors.torch import load_file
from train_harness import iris_mlp

import engine.train.checkpoint as checkpoint
from engine.fileformat import atomic_write_text
from engine.train import train
from engine.train.checkpoint import load_checkpoint, save_checkpoint
from engine.train.checkpoint_files import read_metadata

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="kills a forked saver (POSIX only)")


def state(step: int):
    """(model_state, optimizer_state, meta) whose every number is `step`; ~0.5 MB, so a save takes a few ms."""
    value = float(step)
    model = {"fc1.weight": torch.full((256, 256), value), "fc1.bias": torch.full((256,), value)}
    optimizer = {"state": {0: {"step": torch.tensor(value), "exp_avg": torch.full((256, 256), value)}},
                 "param_groups": [{"lr": 0.1, "params": [0]}]}
    return model, optimizer, {"epoch": step, "step": step}


def save(run_dir, tag: str, step: int) -> None:
    save_checkpoint(run_dir, tag, *state(step))


def intact_step(run_dir, tag: str) -> int:
    """The step of checkpoint `tag`, after checking every tensor in it belongs to that step."""
    model, optimizer, meta = load_checkpoint(run_dir, tag)
    step = meta["step"]
    tensors = [*model.values(), *optimizer["state"][0].values(), torch.tensor(float(meta["epoch"]))]
    assert all(bool((t == step).all()) for t in tensors), f"{tag} mixes saves"
    return step


def stale(run_dir) -> list[str]:
    """Checkpoint files (and their temporary files) no checkpoint consists of."""
    in_use = {"last.safetensors", "best.safetensors"}
    in_use |= {read_metadata(run_dir / name)["train"] for name in in_use if (run_dir / name).exists()}
    return sorted(p.name for p in run_dir.iterdir()
                  if p.name.startswith(("last.", "best.", ".last.", ".best.")) and p.name not in in_use)


def checkpoint_step(run_dir) -> int:
    """The step of the run's `last` checkpoint; 0 before its first."""
    try:
        return int(read_metadata(run_dir / "last.safetensors")["step"])
    except FileNotFoundError:
        return 0


def fork(work) -> int:
    """Run `work` in a forked child; its exit status is 0 when it returned, 1 when it raised."""
    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        code = 1
        try:
            torch.set_num_threads(1)
            work()
            code = 0
        finally:
            os._exit(code)
    return pid


def kill(pid: int) -> bool:
    """SIGKILL the child; True when that is what ended it (not its own exit first)."""
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status)


def test_a_kill_at_any_moment_of_a_save_leaves_a_complete_checkpoint(tmp_path):
    save(tmp_path, "last", 1)
    started = time.perf_counter()
    save(tmp_path, "best", 1)
    one_save = time.perf_counter() - started
    rng = random.Random(12)
    last = best = 1
    interrupted = 0
    for kill_round in range(1, 41):
        saved, saving = os.pipe()

        def saver(first=kill_round * 1000, saving=saving):
            for step in itertools.count(first):
                save(tmp_path, "best" if step % 3 == 0 else "last", step)
                os.write(saving, b".")

        pid = fork(saver)
        os.close(saving)
        os.read(saved, 1)  # one save done: the saver is under way, however busy the machine
        time.sleep(rng.uniform(0.0, 3 * one_save))
        assert kill(pid)
        os.close(saved)
        # every kill leaves last and best whole, never older than before; leftovers of one save at most
        last, best = max(last, intact_step(tmp_path, "last")), max(best, intact_step(tmp_path, "best"))
        assert intact_step(tmp_path, "last") == last and intact_step(tmp_path, "best") == best
        leftovers = stale(tmp_path)
        assert len(leftovers) <= 2, leftovers
        interrupted += bool(leftovers)
    assert last > 1 and best > 1 and interrupted >= 5  # the saver made progress, kills landed mid-save
    save(tmp_path, "last", 99_999)
    assert stale(tmp_path) == [] and intact_step(tmp_path, "last") == 99_999


def test_a_kill_between_any_two_file_operations_keeps_the_old_or_the_new_checkpoint(tmp_path):
    """Deterministic: the saver dies just before its 0th, 1st, 2nd… write, rename or delete."""
    save(tmp_path, "last", 1)
    save(tmp_path, "best", 1)
    save(tmp_path, "last", 2)  # an old training state file to delete after the next commit
    (tmp_path / ".last.safetensors.abc.tmp").write_bytes(b"half a save")  # what an earlier kill left
    (tmp_path / "last.train-7-0badc0de.safetensors").write_bytes(b"\0" * 100)

    def dying_save(n: int) -> None:
        calls = itertools.count()

        def fatal(real):
            def operation(*args, **kwargs):
                if next(calls) == n:
                    os._exit(9)
                return real(*args, **kwargs)
            return operation

        checkpoint.files.write_new = fatal(checkpoint.files.write_new)
        os.replace, os.unlink = fatal(os.replace), fatal(os.unlink)
        save(tmp_path, "last", 3)

    steps = []
    for n in itertools.count():
        _, status = os.waitpid(fork(lambda n=n: dying_save(n)), 0)
        code = os.waitstatus_to_exitcode(status)
        assert code in (0, 9) and n < 20
        steps.append(intact_step(tmp_path, "last"))
        assert intact_step(tmp_path, "best") == 1 and len(stale(tmp_path)) <= 2
        if code == 0:  # this save got through all its operations
            break
    assert set(steps) == {2, 3} and steps == sorted(steps)  # old until the commit, new from it on
    assert stale(tmp_path) == []


def test_a_run_killed_at_random_moments_resumes_and_ends_like_an_uninterrupted_one(tmp_path):
    doc = iris_mlp(epochs=25)  # 8 steps an epoch
    full = train(doc, tmp_path / "full")
    cut = tmp_path / "cut"
    rng = random.Random(3)
    for kill_round, kill_after_step in enumerate((24, 80, 136)):  # progress, not wall time: any machine speed
        pid = fork(lambda resume=kill_round > 0: train(doc, cut, resume=resume))
        deadline = time.monotonic() + 30
        while checkpoint_step(cut) < kill_after_step and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(rng.uniform(0.0, 0.01))  # somewhere in the next epoch, mid-step or mid-save
        assert kill(pid), "the run ended before the kill"
    resumed = train(doc, cut, resume=True)
    assert resumed.state == "finished" and resumed.step == full.step == 200
    a, b = load_file(str(tmp_path / "full/last.safetensors")), load_file(str(cut / "last.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert stale(cut) == []


def leftovers(run_dir) -> list[str]:
    """Every file in `run_dir` but the checkpoints' and metrics.csv: what killed writes left."""
    return sorted(name for name in os.listdir(run_dir) if name != "metrics.csv" and name not in stale_free(run_dir))


def stale_free(run_dir) -> set[str]:
    in_use = {name for name in ("last.safetensors", "best.safetensors") if (run_dir / name).exists()}
    return in_use | {read_metadata(run_dir / name)["train"] for name in in_use}


def test_kills_during_saves_leave_leftovers_that_the_next_save_removes(tmp_path):
    """Checkpoints and the atomic writes of a run's other files (metrics.csv here), killed at random moments."""
    text = "epoch,loss\n" + "1,0.5\n" * 200_000  # 1.2 MB: long enough a write for kills to land in it
    save(tmp_path, "last", 1)
    rng = random.Random(7)
    counts = []
    for kill_round in range(1, 21):
        saved, saving = os.pipe()

        def saver(first=kill_round * 1000, saving=saving):
            for step in itertools.count(first):
                save(tmp_path, "best" if step % 2 else "last", step)
                atomic_write_text(tmp_path / "metrics.csv", text)
                os.write(saving, b".")

        pid = fork(saver)
        os.close(saving)
        os.read(saved, 1)
        time.sleep(rng.uniform(0.0, 0.03))
        assert kill(pid)
        os.close(saved)
        counts.append(len(leftovers(tmp_path)))
    assert max(counts) > 0, counts  # kills landed mid-write, and left files behind
    save(tmp_path, "last", 99_999)
    atomic_write_text(tmp_path / "metrics.csv", "epoch,loss\n")
    assert leftovers(tmp_path) == [] and intact_step(tmp_path, "last") == 99_999
