"""TensorBoard event files for a run, so `tensorboard --logdir my_cnn.runs` opens Layerloom runs.

`TensorBoardLog(run_dir / "tensorboard")` is a sink of the training event stream (events.py): the
EventLog hands it every event on the main rank and it writes them as TensorBoard summaries, one event
file per training session (a resumed run adds a file to the same folder; TensorBoard merges them).

    started     text `config` (the resolved settings as JSON); on a resume also a SessionLog START at
                resumed_step + 1, so TensorBoard drops what an earlier session logged after the
                checkpoint it resumed from (a run that failed after its last checkpoint)
    step        scalars `loss`, `lr`, `grad_norm`, `samples_per_s`, `loss/<name>` per named loss,
                `grad_norm/<node_id>` per node with parameters, `activations/<stat>/<node_id>` per measured node
    epoch       scalars `epoch/train_loss`, `epoch/val_loss`, `epoch/train_accuracy`,
                `epoch/val_accuracy`, `epoch/loss/<name>` per named loss, `epoch/<name>` per task metric
    artifact    kind "image": image `<tag>`, the PNG file at `path` (absolute, or relative to the run
                folder); kind "text": text `<tag>`, the event's `text`; kind "data" whose data has a
                `message` (a finding such as `nan_origin`): text `<tag>`, that message; tag "histograms":
                histograms `weights/<node>` and `gradients/<node>` (engine/inspect/histograms.py)
    others      (status, checkpoint) are not written

Missing values (None: not finite, or no accuracy) are skipped. Everything is logged at the global
optimizer step: a step event's `step`; an epoch event's epoch × steps_per_epoch of the session's
started event, which is the step the epoch ended at, so epoch curves line up with step curves (the
last step seen when there was no started event); an artifact's own `step`, else as for its `epoch`.
Wall times are the events' `time`.

It writes with the tensorboard package's own record writer and protos, synchronously into a
buffered file it opens itself: tensorboard's EventFileWriter would import TensorFlow whenever it is
installed (through `tensorboard.compat.tf`), and adds a writer thread we do not need. The file is
flushed at epoch ends, at least every FLUSH_S seconds while events arrive, and on close. tensorboard
is imported on first use. A TensorBoard failure never fails a run: an OSError (disk full, a folder
that cannot be created) or a missing tensorboard package prints one warning on stderr and turns the
sink off for the rest of the session; an unreadable artifact image is skipped with a warning.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

FLUSH_S = 10.0
_sessions = itertools.count()  # tells apart event files one process opens within a second
# PIL image mode → the colorspace field of TensorBoard's image summary
_COLORSPACES = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}


class TensorBoardLog:
    """Writes training events to a new TensorBoard event file in `logdir` (created when missing)."""

    def __init__(self, logdir: str | Path):
        self.logdir = Path(logdir)
        self.path: Path | None = None  # this session's event file
        self.steps_per_epoch: int | None = None
        self.last_step = 0
        self._warned: set[str] = set()
        self._file: Any = None
        self._writer: Any = None
        self._flushed = time.monotonic()
        try:
            from tensorboard.compat.proto import event_pb2, summary_pb2
            from tensorboard.plugins.text.summary_v2 import text_pb
            from tensorboard.summary.writer.record_writer import RecordWriter
        except ImportError as exc:
            self._warn("import", f"TensorBoard files are not written: {exc} (pip install tensorboard)")
            return
        self._event_pb2, self._summary_pb2, self._text_pb = event_pb2, summary_pb2, text_pb
        try:
            self.logdir.mkdir(parents=True, exist_ok=True)
            now = time.time()
            # TensorBoard reads files whose names contain "tfevents", in name order
            name = f"events.out.tfevents.{int(now):010d}.{socket.gethostname()}.{os.getpid()}.{next(_sessions)}"
            self.path = self.logdir / name
            self._file = open(self.path, "ab")  # noqa: SIM115 (closed in close())
            self._writer = RecordWriter(self._file)
            self._write(event_pb2.Event(wall_time=now, file_version="brain.Event:2",
                                        source_metadata=event_pb2.SourceMetadata(writer="layerloom")))
            self._flush()
        except OSError as exc:
            self._fail(exc)

    # -- the sink ------------------------------------------------------------------------------------
    def __call__(self, event: dict[str, Any]) -> None:
        if self._writer is None:
            return
        kind = event.get("type")
        wall = event.get("time") or time.time()
        if kind == "started":
            self.steps_per_epoch = event.get("steps_per_epoch") or None
            resumed = int(event.get("resumed_step") or 0)
            self.last_step = max(self.last_step, resumed)
            if resumed:
                start = self._event_pb2.SessionLog(status=self._event_pb2.SessionLog.START)
                self._write(self._event_pb2.Event(wall_time=wall, step=resumed + 1, session_log=start))
            text = "    " + json.dumps(event.get("config"), indent=2).replace("\n", "\n    ")  # markdown code
            self._summary(wall, resumed, text_summary=("config", text))
        elif kind == "step":
            step = self.last_step = int(event["step"])
            scalars = {tag: event.get(tag) for tag in ("loss", "lr", "grad_norm", "samples_per_s")}
            scalars |= {f"loss/{name}": v for name, v in (event.get("losses") or {}).items()}
            scalars |= {f"grad_norm/{node}": v for node, v in (event.get("layer_grad_norms") or {}).items()}
            scalars |= {f"activations/{stat}/{node}": v for node, stats in (event.get("activations") or {}).items()
                        for stat, v in stats.items()}
            self._summary(wall, step, scalars)
        elif kind == "epoch":
            scalars = {f"epoch/{tag}": event.get(tag)
                       for tag in ("train_loss", "val_loss", "train_accuracy", "val_accuracy")}
            scalars |= {f"epoch/loss/{name}": v for name, v in (event.get("losses") or {}).items()}
            scalars |= {f"epoch/{name}": v for name, v in (event.get("metrics") or {}).items()}
            self._summary(wall, self._epoch_step(event.get("epoch")), scalars)
            self._flush()
        elif kind == "artifact":
            self._artifact(event, wall)
        if self._writer is not None and time.monotonic() - self._flushed > FLUSH_S:
            self._flush()

    def close(self) -> None:
        """Flush and close the event file; safe to call twice."""
        if self._file is None:
            return
        self._flush()
        try:
            self._file.close()
        except OSError as exc:
            self._fail(exc)
        self._file = self._writer = None

    # -- mapping -------------------------------------------------------------------------------------
    def _epoch_step(self, epoch: Any) -> int:
        if isinstance(epoch, int) and self.steps_per_epoch:
            return epoch * self.steps_per_epoch
        return self.last_step

    def _artifact(self, event: dict[str, Any], wall: float) -> None:
        step = event.get("step")
        step = int(step) if isinstance(step, int) else self._epoch_step(event.get("epoch"))
        tag = str(event.get("tag") or event.get("kind") or "artifact")
        data = event.get("data")
        if event.get("kind") == "text" and isinstance(event.get("text"), str):
            self._summary(wall, step, text_summary=(tag, event["text"]))
        elif event.get("kind") == "data" and isinstance(data, dict) and isinstance(data.get("message"), str):
            self._summary(wall, step, text_summary=(tag, data["message"]))  # a finding: where a NaN came from
        elif event.get("kind") == "data" and tag == "histograms" and isinstance(data, dict):
            self._histograms(wall, step, data)
        elif event.get("kind") == "image" and event.get("path"):
            path = Path(event["path"])
            path = path if path.is_absolute() else self.logdir.parent / path
            try:
                from PIL import Image

                data = path.read_bytes()
                with Image.open(io.BytesIO(data)) as image:
                    (width, height), mode = image.size, image.mode
            except (OSError, ValueError) as exc:  # missing or not an image (UnidentifiedImageError is an OSError)
                self._warn("artifact", f"TensorBoard: skipped the image artifact {path}: {exc}")
                return
            image = self._summary_pb2.Summary.Image(height=height, width=width, colorspace=_COLORSPACES.get(mode, 3),
                                                    encoded_image_string=data)
            self._emit(wall, step, self._summary_pb2.Summary(value=[self._summary_pb2.Summary.Value(tag=tag,
                                                                                                    image=image)]))

    def _histograms(self, wall: float, step: int, data: dict[str, Any]) -> None:
        """`<kind>/<node>` histograms from a histograms artifact's {node: {kind: {min, max, num, …, counts}}}."""
        pb = self._summary_pb2
        summary = pb.Summary()
        for node, kinds in data.items():
            for kind, h in kinds.items():
                histogram = pb.HistogramProto(min=h["min"], max=h["max"], num=h["num"], sum=h["sum"],
                                              sum_squares=h["sum_squares"], bucket_limit=h["edges"][1:],
                                              bucket=h["counts"])
                summary.value.add(tag=f"{kind}/{node}", histo=histogram)
        if summary.value:
            self._emit(wall, step, summary)

    def _summary(self, wall: float, step: int, scalars: dict[str, Any] | None = None,
                 text_summary: tuple[str, str] | None = None) -> None:
        summary = self._summary_pb2.Summary()
        for tag, value in (scalars or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                summary.value.add(tag=tag, simple_value=float(value))
        if text_summary is not None:
            summary.value.extend(self._text_pb(*text_summary).value)
        if summary.value:
            self._emit(wall, step, summary)

    def _emit(self, wall: float, step: int, summary: Any) -> None:
        self._write(self._event_pb2.Event(wall_time=wall, step=step, summary=summary))

    # -- the file ------------------------------------------------------------------------------------
    def _write(self, event: Any) -> None:
        if self._writer is None:
            return
        try:
            self._writer.write(event.SerializeToString())
        except OSError as exc:
            self._fail(exc)

    def _flush(self) -> None:
        self._flushed = time.monotonic()
        if self._file is None:
            return
        try:
            self._file.flush()
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        """Stop writing for the rest of the session; training goes on."""
        self._warn("write", f"TensorBoard files are no longer written to {self.logdir}: {exc}")
        file, self._file, self._writer = self._file, None, None
        if file is not None:
            try:
                file.close()
            except OSError:
                pass

    def _warn(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            print(f"warning: {message}", file=sys.stderr)
