"""Does data or compute bound a CIFAR-10 run? Input pipelines' samples/s against the training step's own.

    python bench/data.py [--samples 10000] [--images 2000] [--device cpu|cuda] [--workers auto|N]
                         [--batch 512] [--steps 6] [--threads N]

All in one run, on generated data of CIFAR-10's real size and format (never downloaded):

  step          the CIFAR-10 ResNet template's training step (resources/examples/cifar10_resnet.json,
                forward, backward, SGD step, through the trainer's own setup) on batches already on the
                device: what the model can consume.
  memory        CIFAR-10 binary files (`--samples` training records) read by the benchmark loader, then
                batches gathered where the data lives for the run (`data_placement: device`), flipped and
                translated by the trainer's augmentation: what a set that fits in memory delivers.
  jpeg folder   `--images` 32×32 JPEGs in class folders, read lazily and decoded by `--workers` DataLoader
                processes (`data_placement: stream`), as an image folder too big for memory trains: the
                second of two epochs (the first starts the workers).

Each source's samples/s is printed with its ratio to the step's: at ≥ 1 the source keeps the step fed,
below 1 the run waits for data and goes at the source's speed. A CUDA device is synchronised before
every clock reading.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from engine.config import TrainingConfig  # noqa: E402
from engine.data import load_dataset  # noqa: E402
from engine.data.batches import place  # noqa: E402
from engine.fileformat import load_document  # noqa: E402
from engine.train.distributed import Distributed  # noqa: E402
from engine.train.setup import prepare  # noqa: E402

TEMPLATE = Path(__file__).resolve().parents[1] / "resources" / "examples" / "cifar10_resnet.json"
AUGMENT = {"flip": True, "crop": 2}  # the template's
CLASSES = 10


def write_cifar10(folder: Path, samples: int, rng: np.random.Generator) -> np.ndarray:
    """`samples` training records over CIFAR-10's five batch files, and a test file of a fifth as many;
    returns the training pixels (N, 3, 32, 32) for the JPEGs."""
    folder.mkdir(parents=True)
    pixels = rng.integers(0, 256, (samples, 3, 32, 32), dtype=np.uint8)
    labels = (np.arange(samples) % CLASSES).astype(np.uint8)
    records = np.concatenate([labels[:, None], pixels.reshape(samples, -1)], 1)
    for i, part in enumerate(np.array_split(records, 5), start=1):
        (folder / f"data_batch_{i}.bin").write_bytes(part.tobytes())
    (folder / "test_batch.bin").write_bytes(records[:max(CLASSES, samples // 5)].tobytes())
    return pixels


def write_jpegs(folder: Path, pixels: np.ndarray) -> None:
    for i, image in enumerate(pixels):
        sub = folder / f"class{i % CLASSES}"
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.transpose(1, 2, 0)).save(sub / f"{i:06d}.jpg", quality=90)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def epoch_rate(source, size: int, batch: int, device: torch.device, augment=None) -> float:
    """Samples/s of one pass over `size` samples in a random order, `augment` applied per batch."""
    sync(device)
    start, seen = time.perf_counter(), 0
    for x, _ in source.batches(torch.randperm(size), batch):
        if augment is not None:
            x = augment(x)
        seen += len(x)
    sync(device)
    return seen / (time.perf_counter() - start)


def step_rate(folder: Path, device: str, batch: int, steps: int) -> float:
    """Samples/s of the template's training step on one batch held on the device (two warm-up steps)."""
    doc = load_document(TEMPLATE)
    config = TrainingConfig.from_dict({**doc.training, "device": device, "batch_size": batch,
                                       "dataset": {"name": "cifar10", "path": str(folder)}})
    setup = prepare(doc, config, Distributed(), device, None)
    (optimizer,), model = setup.optimizers, setup.forward
    x, y = (t[:batch].to(setup.device) for t in setup.data.train.tensors)
    model.train()
    for step in range(steps + 2):
        if step == 2:
            sync(setup.device)
            start = time.perf_counter()
        with setup.autocast():
            loss = model(*setup.arguments(x, y))["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    sync(setup.device)
    return steps * len(x) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000, help="CIFAR-10 training records (50,000 in the set)")
    parser.add_argument("--images", type=int, default=2_000, help="JPEG files in the image folder")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--workers", default="auto", help="DataLoader processes decoding the JPEGs (auto: the "
                                                          "trainer's choice)")
    parser.add_argument("--batch", type=int, default=512, help="the template's batch size")
    parser.add_argument("--steps", type=int, default=6, help="training steps timed")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    workers = args.workers if args.workers == "auto" else int(args.workers)
    device = torch.device(args.device)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="layerloom-bench-data-") as tmp:
        cifar, jpegs = Path(tmp) / "cifar-10-batches-bin", Path(tmp) / "jpegs"
        pixels = write_cifar10(cifar, args.samples, rng)
        write_jpegs(jpegs, pixels[:args.images])

        step = step_rate(cifar, args.device, args.batch, args.steps)
        started = time.perf_counter()
        split = load_dataset({"name": "cifar10", "path": str(cifar), "augment": AUGMENT}, seed=0)
        read = (args.samples + len(split.val)) / (time.perf_counter() - started)
        memory = epoch_rate(place(split.train, device, "device", 0), len(split.train), args.batch, device,
                            split.augment)
        folder = load_dataset({"name": "image_folder", "path": str(jpegs), "augment": AUGMENT}, seed=0,
                              in_memory=lambda size: False)
        streamed = place(folder.train, device, "stream", workers)
        epoch_rate(streamed, len(folder.train), args.batch, device, folder.augment)  # starts the workers
        jpeg = epoch_rate(streamed, len(folder.train), args.batch, device, folder.augment)

    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads, batch {args.batch}, "
          f"{streamed.workers} JPEG workers; {args.samples:,} CIFAR records, {args.images:,} JPEGs\n")
    print("| source | samples/s | × the training step | |")
    print("|---|---:|---:|---|")
    print(f"| training step (cifar10_resnet) | {step:,.0f} | 1.00 | what the model consumes |")
    for name, rate in (("CIFAR-10 from memory, augmented", memory), ("JPEG folder, DataLoader workers", jpeg)):
        verdict = "keeps the step fed" if rate >= step else f"data-bound: the run goes at {rate / step:.0%} speed"
        print(f"| {name} | {rate:,.0f} | {rate / step:.2f} | {verdict} |")
    print(f"| (CIFAR-10 binary files read once, at load) | {read:,.0f} | {read / step:.2f} | before the first epoch |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
