"""Training-time augmentation of image batches, run by the trainer on the device.

`Augment` is applied to whole training batches `(N, C, H, W)` after they reach the device, so it
costs no host work and no sync; it draws from torch's global generator, which the trainer seeds.
Validation batches are never augmented. Config: `{"flip": bool, "crop": padding, "noise": std}` —
flip mirrors half the images left-right, crop zero-pads by `crop` pixels and cuts a random window
of the original size, noise adds Gaussian noise (in standardised units when `normalize` is on).
"""

from __future__ import annotations

from .options import Options


class Augment:
    """A callable `x_batch -> x_batch`; with no options it returns the batch unchanged."""

    def __init__(self, flip: bool = False, crop: int = 0, noise: float = 0.0):
        self.flip, self.crop, self.noise = flip, crop, noise

    @property
    def active(self) -> bool:
        return self.flip or self.crop > 0 or self.noise > 0

    def __call__(self, x):
        import torch

        if self.flip:
            mirrored = torch.rand(x.shape[0], device=x.device) < 0.5
            x = torch.where(mirrored.view(-1, 1, 1, 1), x.flip(-1), x)
        if self.crop:
            x = _random_crop(x, self.crop)
        if self.noise:
            x = x + self.noise * torch.randn_like(x)
        return x

    def __repr__(self) -> str:
        parts = [("flip", self.flip), ("crop", self.crop), ("noise", self.noise)]
        return ", ".join(f"{name} {value}" if not isinstance(value, bool) else name for name, value in parts if value)


def _random_crop(x, pad: int):
    """Zero-pad (N, C, H, W) by `pad` and cut an H×W window at a random offset per sample."""
    import torch
    import torch.nn.functional as F

    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    top = torch.randint(0, 2 * pad + 1, (n, 1), device=x.device)
    left = torch.randint(0, 2 * pad + 1, (n, 1), device=x.device)
    rows = (top + torch.arange(h, device=x.device))[:, :, None]  # (N, H, 1)
    cols = (left + torch.arange(w, device=x.device))[:, None, :]  # (N, 1, W)
    batch = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)  # (N, H, W, C) → (N, C, H, W)


def build_augment(opts: Options, sample_shape: tuple[int, ...], is_float: bool) -> Augment:
    """Read `augment` from the dataset config; flip and crop need image samples (C, H, W)."""
    config = opts.mapping("augment")
    unknown = sorted(set(config) - {"flip", "crop", "noise"})
    if unknown:
        raise opts.error("augment", f"has unknown option {unknown[0]!r} (understood: crop, flip, noise)")
    sub = Options({"name": opts.name, **config}, prefix="augment.")
    augment = Augment(sub.boolean("flip", False), sub.integer("crop", 0, 0, 64), sub.number("noise", 0.0, 0.0, 10.0))
    if augment.active and not is_float:
        raise opts.error("augment", "needs floating-point inputs; token ids cannot be augmented — remove it")
    if (augment.flip or augment.crop) and len(sample_shape) != 3:
        raise opts.error("augment", f"flip and crop need image samples (C, H, W), but samples are {sample_shape} "
                                    "— use noise only")
    return augment
