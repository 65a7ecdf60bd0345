"""`python -m engine.train.worker`: a warm, headless training process driven by JSON lines.

The GUI never imports torch; it keeps one of these processes alive instead, so pressing Train
answers at once (torch is already imported) and a crash in training cannot take the editor down.

Protocol — one JSON object per line, both ways. The worker first writes

    {"type": "ready", "pid", "torch", "threads", "cuda": [device names], "cpu_only": bool,
     "devices": [{"id", "kind", "name", "memory_bytes"}] (engine/launch/devices.py: the CPU, then each GPU)}

then reads commands on stdin (each may carry an "id", echoed in its reply):

    {"cmd": "train", "graph": <fileformat.to_dict(doc)>, "run_dir", "base_dir", "epochs", "device",
     "resume"?, "graph_path"?}
        → every training event of engine.train.events as it happens (`download` events while a benchmark set
          is fetched on first use: a stop then cancels the download and ends the run stopped; a classification
          or regression run ends with its scikit-learn `baseline` artifact: engine/baseline.py; a finished run with a
          `data_rate` artifact, its data pipeline's samples/s measured alone: setup.pipeline_rate), then
          {"type": "run_end", "result": RunResult.to_dict()}
    {"cmd": "pause"} / {"cmd": "resume"} / {"cmd": "stop"}   → {"type": "control", "state": ...}
    {"cmd": "describe_dataset", "dataset": {...}, "seed", "base_dir"} → {"type": "dataset_info", ...}
    {"cmd": "dataset_summary", "dataset", "seed", "base_dir", "augment", "draw"} → {"type": "dataset_summary", ...}
        (engine/data/summary.py: split sizes, class counts, value ranges, an augmented batch, a text's tokens)
    {"cmd": "evaluate", "graph", "weights", "dataset"?, "base_dir"} → {"type": "evaluation", ...} (an image
        classifier's samples also carry "gradcam" and "saliency" (H × W, 0…1), of "explained_layer"; a
        classifier's "mistakes" name a table's rows and cells: mistakes.py) (`evaluate`)
    {"cmd": "stats", "graph", "batch_size"} → {"type": "stats", "stats": GraphStats.to_dict() | None,
        "diagnostics": [trainability diagnostics], "memory": {"bytes", "kind"}} (the GUI never imports torch)
    {"cmd": "export", "graph", "weights"?, "onnx"?, "python"?, "preprocessing"?, "softmax"?, "outputs"?}
        → {"type": "export_result", "passed", "summary", "cases", "warnings", "paths"}
    {"cmd": "generate", "run_dir", "prompt", "tokens", "temperature", "top_k", "seed"?, "checkpoint"?}
        → {"type": "generated", "prompt", "text", "weights": {"tag", "epoch", "step"}, "attention"} (a
        language-model run's text, as `layerloom generate`, from its best checkpoint, else its last; "checkpoint":
        "last" asks for the last first: during a run, the newest weights; "attention": where its last attention
        node looks over the prompt and the text, by the same weights, or None without one:
        engine/inspect/prompt_attention.py)
    {"cmd": "samples", "graph", "indices", "base_dir"} → {"type": "samples", "samples": [{"index", "x", "shape",
        "text", "label"}]}: the validation samples at those positions of the run's split (a confusion cell's);
        where the source knows them also "row" and "cells" (a table's file row and raw cells, an image's file:
        `DataSplit.val_source`, as mistakes.py lists mistakes)
    {"cmd": "profile", "graph", "run_dir", "base_dir"?, "steps"?} → {"type": "profile", "run_dir", "profile":
        profile.json's record} (engine/inspect/profile.py: per-node time and memory over a few training steps,
        written into run_dir)
    {"cmd": "layer_view", "graph", "weights", "node", "sample", "run_dir", "base_dir"?} → {"type": "layer_view",
        "node", "sample", "images": {"feature_maps" | "filters" | "weights": PNG path}} written into the run's
        artifacts folder (engine/inspect/feature_maps.py)
    {"cmd": "quit"}

A user error (bad graph, settings, data, weights) is answered with {"type": "worker_error", "cmd",
"message"} and the worker waits for the next command. Control commands are handled on the stdin
thread, so they act during a run: pause blocks the trainer between steps (inside its stop poll).
Jobs run one at a time on the main thread; a job sent during a run waits for the run to end — except
`generate` and `samples` (ANYTIME), which only read a run's files (a checkpoint commits with one
atomic rename) and so run one at a time on a thread of their own, answered while a run trains.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from ..errors import DataError, LayerloomError

EVAL_SAMPLES = 12  # validation samples sent back for the "Try it" panel
ANYTIME = ("generate", "samples")  # answered at once, even during a run (see the module docstring)
PREVIEW_SAMPLES = 6  # training samples shown under the dataset settings
TOP_K = 3


class Output:
    """Thread-safe JSON-line writer on the real stdout (flushed per line)."""

    def __init__(self, stream: TextIO):
        self.stream, self.lock = stream, threading.Lock()

    def __call__(self, message: dict) -> None:
        line = json.dumps(message, allow_nan=False)
        with self.lock:
            self.stream.write(line + "\n")
            self.stream.flush()


class Control:
    """The trainer's `stop` callable: blocks while paused, True once a stop was asked for. The trainer
    sets `pause_listener` (trainer.StopSignal), told on the training thread when a pause holds the run and
    when it lets go, so that events.jsonl records the pause."""

    def __init__(self):
        self.stopping, self.running = threading.Event(), threading.Event()
        self.running.set()
        self.pause_listener: Callable[[bool], None] | None = None

    def __call__(self) -> bool:
        if not self.running.is_set():
            listener = self.pause_listener
            if listener is not None:
                listener(True)
            self.running.wait()
            if listener is not None and not self.stopping.is_set():
                listener(False)
        return self.stopping.is_set()

    def reset(self) -> None:
        self.stopping.clear()
        self.running.set()
        self.pause_listener = None

    def pause(self) -> None:
        self.running.clear()

    def resume(self) -> None:
        self.running.set()

    def stop(self) -> None:
        self.stopping.set()
        self.running.set()  # a paused trainer must wake up to see the stop


class Worker:
    def __init__(self, out: Output):
        self.out, self.control, self.jobs = out, Control(), queue.Queue()
        self.anytime: queue.Queue = queue.Queue()  # ANYTIME commands, served beside the jobs

    # -- stdin thread -----------------------------------------------------------------------
    def read_commands(self, stream: TextIO) -> None:
        """Handle control commands at once and queue the jobs; end of input means quit."""
        for line in stream:
            if not line.strip():
                continue
            try:
                command = json.loads(line)
                name = command["cmd"]
            except (ValueError, KeyError, TypeError):
                self.out({"type": "worker_error", "cmd": None, "message": f"not a command: {line.strip()[:200]}"})
                continue
            if name in ("pause", "resume", "stop"):
                getattr(self.control, name)()
                self.out({"type": "control", "state": {"pause": "paused", "resume": "running",
                                                       "stop": "stopping"}[name]})
            elif name == "quit":
                break
            elif name in ANYTIME:
                self.anytime.put(command)
            else:
                self.jobs.put(command)
        self.control.stop()
        self.anytime.put(None)
        self.jobs.put(None)

    # -- main thread ------------------------------------------------------------------------
    def serve(self) -> None:
        """Run the jobs on this thread and the ANYTIME commands on another, until the input ends."""
        threading.Thread(target=self._serve, args=(self.anytime,), daemon=True, name="anytime").start()
        self._serve(self.jobs)

    def _serve(self, commands: queue.Queue) -> None:
        while (command := commands.get()) is not None:
            name = command.get("cmd")
            handler = getattr(self, f"_{name}", None)
            reply = {"cmd": name, **({"id": command["id"]} if "id" in command else {})}
            if handler is None:
                self.out({"type": "worker_error", **reply, "message": f"unknown command {name!r}"})
                continue
            try:
                result = handler(command)
                if result is not None:
                    self.out({**result, **reply})
            except LayerloomError as exc:
                self.out({"type": "worker_error", **reply, "message": str(exc)})
            except Exception as exc:  # a bug: report it, keep serving the next command
                traceback.print_exc(file=sys.stderr)
                self.out({"type": "worker_error", **reply, "bug": True,
                          "message": f"internal error in {name}: {type(exc).__name__}: {exc}"})

    def _train(self, command: dict) -> dict:
        from ..data.download import reporting
        from .download_events import DownloadEvents
        from .loop import train

        doc = _document(command)
        run_dir = Path(command["run_dir"])
        self.control.reset()

        def on_event(event: dict) -> None:
            self.out(event)

        # a benchmark set's first download reports as events (the app's progress dialog); Stop cancels it
        with reporting(DownloadEvents(self.out, self.control.stopping.is_set)):
            result = train(doc, run_dir, epochs=command.get("epochs"), device=command.get("device"),
                           resume=bool(command.get("resume")), on_event=on_event, stop=self.control,
                           base_dir=command.get("base_dir"), graph_path=command.get("graph_path"), baseline=True)
        if result.state == "finished":
            self._data_rate(doc, command, result)
        return {"type": "run_end", "result": result.to_dict()}

    def _data_rate(self, doc, command: dict, result) -> None:
        """After a finished run, its data pipeline measured alone, as a `data_rate` artifact: the app compares it
        with the run's throughput (engine/train/bound.py). A pipeline that cannot be measured is left unsaid."""
        import torch

        from ..config import TrainingConfig
        from .events import artifact
        from .setup import pipeline_rate, resolve_device

        try:
            config = TrainingConfig.from_dict({**doc.training, **({"device": command["device"]}
                                                                  if command.get("device") else {})})
            rate = pipeline_rate(config, torch.device(resolve_device(config.device)), command.get("base_dir"))
        except (LayerloomError, OSError, RuntimeError) as exc:
            print(f"data_rate: not measured: {exc}", file=sys.stderr)
            return
        if rate is not None:
            self.out(artifact("data", "data_rate", result.epochs, result.step, "", data=rate))

    def _describe_dataset(self, command: dict) -> dict:
        from ..data.describe import describe_dataset

        # a preview never starts a benchmark set's download (hundreds of MB, before any run): training does
        return {"type": "dataset_info", **describe_dataset(command.get("dataset"), int(command.get("seed") or 0),
                                                           command.get("base_dir"), PREVIEW_SAMPLES)}

    def _dataset_summary(self, command: dict) -> dict:
        from ..data.summary import dataset_summary

        return {"type": "dataset_summary", **dataset_summary(
            command.get("dataset"), int(command.get("seed") or 0), command.get("base_dir"),
            augment=bool(command.get("augment", True)), draw=int(command.get("draw") or 0))}

    def _stats(self, command: dict) -> dict:
        from ..stats import graph_stats
        from ..trainability import machine_memory, trainability
        from ..validate import validate

        doc = _document(command)
        report = validate(doc)
        device = str(doc.training.get("device", "auto"))
        have, kind = machine_memory(device)
        reply: dict[str, Any] = {"type": "stats", "stats": None, "diagnostics": [],
                                 "memory": {"bytes": have, "kind": kind, "device": device}}
        if report.ok:
            stats = graph_stats(doc, report, int(command.get("batch_size") or 32))
            reply.update(stats=stats.to_dict(),
                         diagnostics=[d.to_dict() for d in trainability(doc, report, stats, device)])
        return reply

    def _evaluate(self, command: dict) -> dict:
        return {"type": "evaluation", **evaluate(_document(command), command["weights"], command.get("dataset"),
                                                 command.get("base_dir"))}

    def _export(self, command: dict) -> dict:
        from ..export.bundle import export_all

        for key in ("onnx", "python"):
            if command.get(key):
                Path(command[key]).parent.mkdir(parents=True, exist_ok=True)
        result = export_all(_document(command), onnx=command.get("onnx"), python=command.get("python"),
                            weights=command.get("weights"), preprocessing=command.get("preprocessing", True),
                            softmax=bool(command.get("softmax")), outputs=command.get("outputs"))
        reply: dict[str, Any] = {"type": "export_result", "passed": None, "summary": "", "cases": [],
                                 "warnings": result.warnings}
        paths = []
        if result.onnx is not None:
            paths.append(str(result.onnx.path))
            reply.update(passed=result.onnx.passed, summary=result.onnx.summary(),
                         cases=[{"description": c.description, "max_abs_error": c.max_abs_error,
                                 "passed": c.passed} for c in result.onnx.cases])
        if result.python is not None:
            paths += [str(result.python.code_path), str(result.python.weights_path)]
        paths += [str(p) for p in result.card_paths]
        return {**reply, "paths": paths}

    def _profile(self, command: dict) -> dict:
        from ..inspect.profile import PROFILE_FILE, profile_graph

        run_dir = Path(command["run_dir"])
        profile_graph(_document(command), run_dir, steps=int(command.get("steps") or 5),
                      base_dir=command.get("base_dir"))
        return {"type": "profile", "run_dir": str(run_dir),
                "profile": json.loads((run_dir / PROFILE_FILE).read_text(encoding="utf-8"))}

    def _layer_view(self, command: dict) -> dict:
        from ..inspect.feature_maps import layer_pictures
        from ..tasks.artifacts import ARTIFACTS_DIR

        try:
            found = layer_pictures(_document(command), command["weights"], str(command["node"]),
                                   int(command.get("sample") or 0), Path(command["run_dir"]) / ARTIFACTS_DIR,
                                   command.get("base_dir"))
        except ValueError as exc:  # a node or sample the view cannot show: said, not a bug
            raise DataError(str(exc)) from None
        return {"type": "layer_view", **found}

    def _generate(self, command: dict) -> dict:
        import torch

        from ..inspect.prompt_attention import prompt_attention
        from ..tasks.language import generate_ids, open_run_model, written

        model = open_run_model(command["run_dir"], str(command.get("checkpoint", "best")))
        seed = command.get("seed")
        rng = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        ids, start = generate_ids(model.logits, model.codec, str(command["prompt"]), int(command["tokens"]),
                                  model.block, torch.device("cpu"), float(command.get("temperature", 0.8)),
                                  int(command.get("top_k", 10)), rng)
        return {"type": "generated", "prompt": command["prompt"], "text": written(model.codec, ids, start),
                "weights": model.weights,
                "attention": prompt_attention(model.module, model.codec, ids, start, model.block)}

    def _samples(self, command: dict) -> dict:
        from ..config import TrainingConfig
        from ..data import load_dataset

        config = TrainingConfig.from_dict(_document(command).training)
        split = load_dataset(config.dataset, config.seed, command.get("base_dir"))
        x, y = split.val.tensors
        names = split.class_names or []
        samples = []
        for i in (int(i) for i in command["indices"] if 0 <= int(i) < len(x)):
            label = y[i].reshape(-1).tolist()
            shown = names[label[0]] if len(label) == 1 and isinstance(label[0], int) and label[0] < len(names) \
                else ", ".join(map(str, label[:8]))
            text = "".join(split.vocab[int(t)] for t in x[i].reshape(-1)) if split.vocab else None
            samples.append({"index": i, "x": x[i].reshape(-1).tolist(), "shape": list(x[i].shape), "text": text,
                            "label": shown, **(split.val_source.row(i) if split.val_source else {})})
        return {"type": "samples", "samples": samples}


def _document(command: dict):
    from ..fileformat import from_dict

    return from_dict(command.get("graph"), "the graph sent to the worker")


def evaluate(doc, weights: str, dataset: dict | None, base_dir: str | None) -> dict:
    """Confusion matrix over the validation split and the top-k predictions of a few samples; for two classes
    also the ROC AUC and the ROC / precision–recall curves of the second class's probability.

    The split is the training run's (same dataset config and seed), so these are samples the model
    did not train on. `confusion[true][predicted]` counts samples; it is empty for regression and
    autoencoders. A graph whose inference takes more than one data Input (a GAN) is refused with a
    "not a classifier" DataError.
    """
    import torch

    from nodes.io import is_noise

    from ..compile import compile_graph
    from ..config import TrainingConfig
    from ..data import load_dataset
    from ..export.weights import load_weights
    from ..metrics import curves, roc_auc
    from .mistakes import list_mistakes

    config = TrainingConfig.from_dict(doc.training)
    compiled = compile_graph(doc, with_loss=False)
    if len(compiled.input_names) != 1 or is_noise(doc.nodes[compiled.input_names[0]].params):
        raise DataError(f"not a classifier: evaluation feeds validation samples to one data Input, but "
                        f"{doc.name} takes {', '.join(compiled.input_names)}"
                        f"{' (a GAN: generator and discriminator)' if config.mode == 'gan' else ''} — there are no "
                        f"class predictions to score")
    split = load_dataset(dataset or config.dataset, config.seed, base_dir)
    load_weights(compiled.module, weights)
    module = compiled.module.eval()
    x, y = split.val.tensors
    with torch.no_grad():
        out = module(x)
    scores = (out[0] if isinstance(out, tuple) else out).float()
    classes = split.num_classes or 0
    reply: dict[str, Any] = {"class_names": split.class_names or [str(i) for i in range(classes)],
                             "confusion": [], "accuracy": None, "samples": []}
    is_classifier = split.task == "classification" and scores.ndim == y.ndim + 1 and scores.shape[-1] == classes
    if is_classifier:
        predicted = scores.argmax(-1)
        pairs = (y.reshape(-1) * classes + predicted.reshape(-1)).bincount(minlength=classes * classes)
        reply["confusion"] = pairs.view(classes, classes).tolist()
        reply["accuracy"] = float((predicted == y).float().mean())
        if classes == 2 and scores.ndim == 2:  # two classes: how the second's probability ranks the samples
            positive, is_positive = scores.softmax(-1)[:, 1].numpy(), y.numpy() == 1
            reply.update(roc_auc=roc_auc(positive, is_positive), curves=curves(positive, is_positive))
        if scores.ndim == 2:  # one label a sample: the wrong ones, a table's as rows of its file
            reply["mistakes"] = list_mistakes(y.numpy(), scores.softmax(-1).numpy(), split.val_source)
    for i in range(min(EVAL_SAMPLES, len(x))):
        sample = {"x": x[i].tolist(), "shape": list(x[i].shape), "label": y[i].tolist(), "top": []}
        if is_classifier and scores.ndim == 2:
            probs, ids = scores[i].softmax(-1).topk(min(TOP_K, classes))
            sample["top"] = [[int(c), float(p)] for p, c in zip(probs.tolist(), ids.tolist(), strict=True)]
        reply["samples"].append(sample)
    if is_classifier and x.ndim == 4 and scores.ndim == 2:
        _explain(module, x[:EVAL_SAMPLES], reply, Path(weights).parent)
    return reply


def _explain(module, x, reply: dict, run_dir: Path) -> None:
    """Grad-CAM on the last map and input-gradient saliency of each sample of an image classifier's reply
    (engine/inspect/gradcam.py), also written as PNG grids into the run's artifacts folder when there is one."""
    from ..inspect.gradcam import explain, spatial_nodes
    from ..tasks.artifacts import ARTIFACTS_DIR, image_grid

    if not spatial_nodes(module, x):  # an MLP over images (Flatten first): no map to explain with
        return
    result = explain(module, x)
    reply["explained_layer"] = result["layer"]
    for sample, cam, saliency in zip(reply["samples"], result["gradcam"], result["saliency"], strict=False):
        sample["gradcam"], sample["saliency"] = cam.tolist(), saliency.tolist()
    if (run_dir / "events.jsonl").is_file():
        (run_dir / ARTIFACTS_DIR).mkdir(exist_ok=True)
        for key in ("gradcam", "saliency"):
            image_grid(result[key][:, None], 6, (0.0, 1.0)).save(run_dir / ARTIFACTS_DIR / f"{key}.png")


def torch_threads() -> int:
    """Leave one core to the GUI: torch gets all but one (at least one)."""
    return max(1, (os.cpu_count() or 1) - 1)


def main() -> int:
    protocol = Output(sys.stdout)
    sys.stdout = sys.stderr  # a stray print in a layer or library must not corrupt the protocol
    import torch

    torch.set_num_threads(torch_threads())
    cuda = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] \
        if torch.cuda.is_available() else []
    from ..launch.devices import local_devices

    protocol({"type": "ready", "pid": os.getpid(), "torch": torch.__version__, "threads": torch.get_num_threads(),
              "cuda": cuda, "cpu_only": not cuda, "devices": local_devices()})
    worker = Worker(protocol)
    threading.Thread(target=worker.read_commands, args=(sys.stdin,), daemon=True, name="commands").start()
    worker.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
