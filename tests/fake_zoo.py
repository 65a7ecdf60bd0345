"""A stand-in for torchvision's published weights, so no test downloads anything (and torchvision's CUDA-only
wheel need not import here): `fake_torchvision(folder)` writes a package `torchvision/models/__init__.py` into
`folder` and puts it first on sys.path while the context lasts. Its `get_model_weights("resnet18")` gives a
weights enum whose IMAGENET1K_V1 (also DEFAULT) returns the reference ResNet-18's state_dict
(engine/torch_import/reference_models.py) drawn from a fixed seed — BatchNorm statistics included — counting
its bytes on a tqdm bar as torch.hub's download does (`CHUNKS` updates, `CHUNK_SECONDS` apart, each noted in
`SENT`). `published_state()` is the same state_dict, to compare.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

import torch

from engine.torch_import.reference_models import resnet18

SOURCE = "torchvision:resnet18:IMAGENET1K_V1"
CHUNKS = 4  # the fake download's progress updates
CHUNK_SECONDS = 0.0  # how long each takes: a test that cancels a download in progress sets more
SENT: list[int] = []  # the chunks handed over so far (bytes each); a test that counts them sets a fresh list

PACKAGE = '''
import enum
import time

from tqdm import tqdm

import fake_zoo


class ResNet18_Weights(enum.Enum):
    IMAGENET1K_V1 = "https://download.pytorch.org/models/resnet18-f37072fd.pth"
    DEFAULT = IMAGENET1K_V1

    def get_state_dict(self, progress=True, **kwargs):
        state = fake_zoo.published_state()
        total = sum(t.numel() * t.element_size() for t in state.values())
        with tqdm(total=total, disable=not progress, unit="B") as bar:
            for _ in range(fake_zoo.CHUNKS):
                time.sleep(fake_zoo.CHUNK_SECONDS)
                bar.update(total // fake_zoo.CHUNKS)
                fake_zoo.SENT.append(total // fake_zoo.CHUNKS)
        return state


def get_model_weights(name):
    if name != "resnet18":
        raise ValueError(f"Unknown model {name}")
    return ResNet18_Weights
'''


def published_state() -> dict[str, torch.Tensor]:
    """ResNet-18's state_dict as if trained: random weights and BatchNorm statistics, the same every call."""
    generator = torch.Generator().manual_seed(1234)
    model = resnet18()
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + (0.5 if "running_var" in name else -0.5))
    return model.state_dict()


@contextmanager
def fake_torchvision(folder: Path):
    package = Path(folder) / "torchvision"
    (package / "models").mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "models" / "__init__.py").write_text(PACKAGE, encoding="utf-8")
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path.remove(str(folder))
        for name in [name for name in sys.modules if name == "torchvision" or name.startswith("torchvision.")]:
            del sys.modules[name]
