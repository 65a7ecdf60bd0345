"""Adversarial (GAN): a sample grid from a fixed noise at every epoch end, and D(real), D(fake).

The grid's noise is drawn from a generator seeded with `training.seed` (`fixed_noise_samples`), so
every epoch shows the same latent points and the user watches the generator learn. The grid is drawn
on the value range of the real validation sample, as real images would be: a fake's few pixels beyond
it saturate instead of washing every other sample out to grey. D(real) and
D(fake) are the discriminator's mean probability of "real" on the validation sample and on as many
fakes from that noise. The generator's and discriminator's losses are the epoch event's `losses`.
"""

from __future__ import annotations

import torch

from .artifacts import image_grid
from .base import Sample, TaskKind

GRID = 8  # an 8 × 8 grid of samples


class Adversarial(TaskKind):
    name = "adversarial"
    interval_s = 0.0  # the grid is cheap and its point is to change every epoch

    def metrics(self, setup, sample: Sample) -> dict[str, float]:
        fake = fixed_noise_samples(setup, len(sample.x))
        with setup.autocast():
            real_p, fake_p = (torch.sigmoid(setup.discriminate(x).float()).mean() for x in (sample.x, fake))
        return {"d_real": float(real_p), "d_fake": float(fake_p)}

    def artifacts(self, setup, sample: Sample, out) -> None:
        fake = fixed_noise_samples(setup, GRID * GRID)
        if fake.ndim == 4:  # (N, C, H, W) images; other samples have no picture
            out.image("samples", image_grid(fake, GRID, (float(sample.x.min()), float(sample.x.max()))))


def fixed_noise_samples(setup, n: int) -> torch.Tensor:
    """n fakes from the run's fixed noise (the same for every call with the same n)."""
    noise = torch.Generator(setup.device).manual_seed(setup.config.seed)
    with setup.autocast():
        return setup.generate(n, noise).float()
