"""Every run also writes TensorBoard event files; read back here with tensorboard's own event reader."""

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from train_harness import example, iris_mlp, of_type, run

from engine.compile import compile_graph
from engine.train.tensorboard_log import TensorBoardLog

ROOT = Path(__file__).resolve().parents[2]


def read_back(logdir: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    return accumulator.Reload()


def scalars(accumulator: EventAccumulator, tag: str) -> list[tuple[int, float]]:
    return [(e.step, e.value) for e in accumulator.Scalars(tag)]


def text(accumulator: EventAccumulator, tag: str) -> list[tuple[int, str]]:
    return [(e.step, e.tensor_proto.string_val[0].decode()) for e in accumulator.Tensors(tag)]


def close_to(pairs: list[tuple[int, float]]):
    """Scalars are stored as float32."""
    return [(step, pytest.approx(value, rel=1e-6)) for step, value in pairs]


def test_a_run_and_its_resume_write_the_event_stream_as_tensorboard_scalars(tmp_path):
    doc = example("digits_mlp", epochs=1)
    first, _ = run(doc, tmp_path)
    assert first.state == "finished"
    (first_file,) = (tmp_path / "tensorboard").iterdir()
    assert first_file.name.startswith("events.out.tfevents.")
    assert max(step for step, _ in scalars(read_back(tmp_path / "tensorboard"), "loss")) == first.step

    resumed, events = run(doc, tmp_path, epochs=2, resume=True)
    assert resumed.state == "finished" and resumed.step == 2 * first.step
    assert len(list((tmp_path / "tensorboard").iterdir())) == 2  # a new file per session, merged by TensorBoard
    tb = read_back(tmp_path / "tensorboard")

    steps = of_type(events, "step")
    assert steps[-1]["step"] > first.step  # the resumed session's steps follow the first session's
    for tag in ("loss", "lr", "grad_norm", "samples_per_s"):
        assert scalars(tb, tag) == close_to([(e["step"], e[tag]) for e in steps])
    parameterised = {name.split(".")[0] for name, _ in compile_graph(doc).module.named_parameters()}
    assert {tag for tag in tb.Tags()["scalars"] if tag.startswith("grad_norm/")} == {
        f"grad_norm/{node}" for node in parameterised} == {"grad_norm/fc1", "grad_norm/fc2"}
    for node in parameterised:
        assert scalars(tb, f"grad_norm/{node}") == close_to([(e["step"], e["layer_grad_norms"][node]) for e in steps])

    epochs = of_type(events, "epoch")
    steps_per_epoch = of_type(events, "started")[0]["steps_per_epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2] and steps_per_epoch == first.step
    for tag in ("train_loss", "val_loss", "train_accuracy", "val_accuracy"):
        assert scalars(tb, f"epoch/{tag}") == close_to([(e["epoch"] * steps_per_epoch, e[tag]) for e in epochs])

    configs = text(tb, "config")
    assert [step for step, _ in configs] == [0, first.step]
    assert '"name": "digits"' in configs[0][1] and '"epochs": 2' in configs[1][1]


def session(path: Path, resumed_step: int) -> TensorBoardLog:
    log = TensorBoardLog(path)
    log({"type": "status", "time": 1.0, "state": "started"})
    log({"type": "started", "time": 2.0, "config": {"epochs": 2}, "resumed_step": resumed_step,
         "steps_per_epoch": 5})
    return log


def step(n: int, loss: float, **fields) -> dict:
    return {"type": "step", "time": 10.0 + n, "step": n, "epoch": 1 + (n - 1) // 5, "loss": loss, "lr": 0.1,
            "grad_norm": 1.0, "layer_grad_norms": {"g": 0.5, "d": None}, "samples_per_s": 100.0, **fields}


def test_named_losses_artifacts_and_a_rewound_resume_are_mapped(tmp_path):
    png = tmp_path / "artifacts" / "samples.png"
    png.parent.mkdir()
    Image.new("RGB", (6, 4), (200, 30, 10)).save(png)

    log = session(tmp_path / "tensorboard", 0)
    for n in range(1, 9):
        log(step(n, float(n), losses={"generator": float(n), "discriminator": -float(n)}))
        if n == 5:
            log({"type": "epoch", "time": 16.0, "epoch": 1, "train_loss": 3.0, "val_loss": 4.0,
                 "train_accuracy": None, "val_accuracy": None, "lr": 0.1, "seconds": 1.0,
                 "losses": {"generator": 3.0, "discriminator": -3.0}})
            log({"type": "artifact", "time": 17.0, "kind": "image", "tag": "samples",
                 "path": "artifacts/samples.png", "epoch": 1})
            log({"type": "artifact", "time": 17.0, "kind": "text", "tag": "generated", "text": "to be or", "step": 5})
    log.close()
    log.close()  # twice is fine

    # the run failed after step 8; its last checkpoint was at step 5, and the resume logs steps 6 and 7 again
    log = session(tmp_path / "tensorboard", 5)
    for n in (6, 7):
        log(step(n, 10.0 * n))
    log.close()

    tb = read_back(tmp_path / "tensorboard")
    assert scalars(tb, "loss") == [(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0), (5, 5.0), (6, 60.0), (7, 70.0)]
    assert scalars(tb, "loss/generator") == [(n, float(n)) for n in range(1, 6)]
    assert scalars(tb, "loss/discriminator") == [(n, -float(n)) for n in range(1, 6)]
    assert scalars(tb, "grad_norm/g") == [(n, 0.5) for n in range(1, 8)]
    assert "grad_norm/d" not in tb.Tags()["scalars"]  # None: skipped
    assert scalars(tb, "epoch/train_loss") == [(5, 3.0)] and scalars(tb, "epoch/val_loss") == [(5, 4.0)]
    assert scalars(tb, "epoch/loss/generator") == [(5, 3.0)] and scalars(tb, "epoch/loss/discriminator") == [(5, -3.0)]
    assert not {"epoch/train_accuracy", "epoch/val_accuracy"} & set(tb.Tags()["scalars"])

    (image,) = tb.Images("samples")
    assert (image.step, image.width, image.height) == (5, 6, 4)
    assert image.encoded_image_string == png.read_bytes()
    assert text(tb, "generated") == [(5, "to be or")]
    assert [s for s, _ in text(tb, "config")] == [0, 5]


def test_an_unreadable_artifact_is_skipped_with_a_warning(tmp_path, capsys):
    log = session(tmp_path / "tensorboard", 0)
    for _ in range(2):
        log({"type": "artifact", "time": 3.0, "kind": "image", "tag": "samples", "path": str(tmp_path / "nope.png"),
             "step": 1})
    log(step(1, 1.0))
    log.close()
    assert capsys.readouterr().err.count("warning: TensorBoard: skipped the image artifact") == 1
    tb = read_back(tmp_path / "tensorboard")
    assert tb.Tags()["images"] == [] and scalars(tb, "loss") == [(1, 1.0)]


@pytest.mark.parametrize("failure", ["folder_is_a_file", "disk_full"])
def test_a_tensorboard_failure_never_fails_training(tmp_path, monkeypatch, capsys, failure):
    if failure == "folder_is_a_file":
        (tmp_path / "tensorboard").write_text("in the way")
    else:  # the header and the first few records go through, then the disk is full
        from tensorboard.summary.writer.record_writer import RecordWriter

        write, calls = RecordWriter.write, []

        def full_disk(self, data):
            calls.append(data)
            if len(calls) > 3:
                raise OSError(errno.ENOSPC, "No space left on device")
            write(self, data)

        monkeypatch.setattr(RecordWriter, "write", full_disk)

    result, events = run(iris_mlp(epochs=2), tmp_path)
    assert result.state == "finished" and events[-1]["state"] == "finished"
    assert len(of_type(events, "epoch")) == 2 and (tmp_path / "last.safetensors").is_file()
    assert capsys.readouterr().err.count("warning: TensorBoard files are no longer written") == 1
    if failure == "disk_full":
        assert len(calls) == 4  # nothing more was attempted after the failure
        assert scalars(read_back(tmp_path / "tensorboard"), "loss") == [(1, pytest.approx(events[2]["loss"]))]


def test_writing_never_imports_tensorflow(tmp_path):
    """tensorboard imports TensorFlow where it can (its EventFileWriter does); a run must not pay for that."""
    fake = tmp_path / "site" / "tensorflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")  # importable, so any attempt to import it would succeed
    code = ("import sys; from engine.train.tensorboard_log import TensorBoardLog; "
            f"log = TensorBoardLog({str(tmp_path / 'tb')!r}); "
            "log({'type': 'started', 'time': 1.0, 'config': {}, 'resumed_step': 0, 'steps_per_epoch': 2}); "
            "log({'type': 'step', 'time': 2.0, 'step': 1, 'loss': 1.0, 'layer_grad_norms': {}}); "
            "log({'type': 'artifact', 'time': 3.0, 'kind': 'text', 'tag': 't', 'text': 'x', 'step': 1}); "
            "log({'type': 'epoch', 'time': 4.0, 'epoch': 1, 'train_loss': 1.0}); log.close(); "
            "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, cwd=ROOT,
                   env={**os.environ, "PYTHONPATH": f"{tmp_path / 'site'}{os.pathsep}{ROOT}"})
    assert scalars(read_back(tmp_path / "tb"), "epoch/train_loss") == [(2, 1.0)]
