"""GAN training: a generator and a discriminator drawn on one canvas and trained against each other.

The graph holds two separate networks:

    generator      Input(s) with source "noise" → … → Output (e.g. `fake`), shaped like one data sample
    discriminator  the data Input → … → Output (e.g. `real_logit`), one logit per sample: (N, 1)

and its training section says `"mode": "gan", "gan": {"generator": "fake", "discriminator":
"real_logit"}`. No Target or loss node is drawn: the adversarial losses are built in. Every node
must belong to exactly one of the two networks, so inference and export see the whole graph as
one module taking (noise…, image) and returning (fake, logit).

Each network is compiled on its own (the inference flavour of engine.compile limited to its
Output), and one module holds the node submodules of both — node ids are unique across the
document — so the checkpoint's `<tag>.safetensors` is keyed by node id like any other and loads
into the whole graph for export. Two optimizers are built from the same optimizer settings (Adam
with betas [0.5, 0.999] is the usual GAN choice) and follow one learning-rate schedule; both are
checkpointed together, so a resumed run continues exactly.

One step is the non-saturating GAN of Goodfellow et al. (2014) with BCE on logits, as in DCGAN:

    z ~ N(0, 1) per noise Input;  fake = G(z)
    discriminator step  L_D = BCE(D(x), 1) + BCE(D(fake.detach()), 0)
    generator step      L_G = BCE(D(fake), 1)          (D already updated; gradients reach G only)

The generator step backpropagates into G's parameters alone, so when a step event measures the
per-layer gradient norms, each network's `.grad` holds the gradients of its own update.

Events (events.py): a step's `loss` is L_G and `losses` is {"generator": L_G, "discriminator": L_D};
an epoch's `train_loss` is the mean L_G, `losses` the means of both, and `val_loss` is L_D on the
validation images against as many fakes from a fixed noise (seeded by training.seed, so epochs
compare); accuracies are None. Neither loss measures sample quality, so no `best` checkpoint is
kept and early stopping is refused by the config. GAN runs use one process: DDP/FSDP is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from nodes import format_shape
from nodes.io import is_noise

from ..compile import CompiledGraph, compile_graph
from ..config import ConfigError, TrainingConfig
from ..data import load_dataset
from ..data.batches import epoch_order
from ..document import GraphDocument
from ..gradnorms import GradNorms
from ..trainability import single_sample_fails
from ..validate import ValidationReport, validate
from .distributed import Distributed
from .finetune import frozen_modules, parameter_groups
from .init_weights import start_from
from .optim import build_optimizer
from .setup import RunSetup, check_fits, check_trainable, noise_batch, noise_inputs, pace, start
from .trainer import Trainer

GradNormPair = tuple[torch.Tensor, torch.Tensor]  # (per-node norms, global norm)


class JointGradNorms:
    """Per-node gradient norms of both networks (the generator's nodes first) and the global norm."""

    def __init__(self, generator: torch.nn.Module, discriminator: torch.nn.Module):
        self.parts = (GradNorms(generator), GradNorms(discriminator))
        self.node_ids = [node_id for part in self.parts for node_id in part.node_ids]

    def __call__(self) -> GradNormPair:
        return self.join([part() for part in self.parts])

    @staticmethod
    def join(measured: list[GradNormPair]) -> GradNormPair:
        layers = torch.cat([layer_norms for layer_norms, _ in measured])
        return layers, torch.linalg.vector_norm(torch.stack([norm for _, norm in measured]))


@dataclass
class GanSetup(RunSetup):
    """`model` holds both networks' nodes; `optimizers` is (generator's, discriminator's)."""

    generator: CompiledGraph  # noise Input(s) → the generator's Output
    discriminator: CompiledGraph  # the data Input → the discriminator's Output

    def generate(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n fake samples from fresh noise (drawn from `generator`, else torch's global RNG)."""
        g = self.generator
        return g.module(*(noise_batch(g, name, n, self.device, generator) for name in g.input_names))

    def discriminate(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1) logits: high means "real"."""
        return self.discriminator.module(x)


def prepare_gan(doc: GraphDocument, config: TrainingConfig, dist: Distributed, device_kind: str,
                base_dir: str | Path | None) -> GanSetup:
    if dist.active:
        raise ConfigError("training.mode: GANs train in one process — run `layerloom train` without torchrun "
                          "(DDP/FSDP is not supported in gan mode)")
    device = start(config, dist, device_kind)
    report = validate(doc)
    warned = check_trainable(doc, report, config, device)
    outputs = [node_id for node_id in report.order if doc.nodes[node_id].type_id == "Output"]
    for key in ("generator", "discriminator"):
        node_id = getattr(config.gan, key)
        if node_id not in outputs:
            raise ConfigError(f"training.gan.{key}: {node_id!r} is not an Output node of the graph — name the "
                              f"Output of the {key}: one of {', '.join(outputs) or '(none)'}")
    generator = compile_graph(doc, with_loss=False, report=report, outputs=[config.gan.generator])
    discriminator = compile_graph(doc, with_loss=False, report=report, outputs=[config.gan.discriminator])
    _check_networks(doc, report, generator, discriminator)
    data = load_dataset(config.dataset, config.seed, base_dir=base_dir)
    (real,) = discriminator.input_names
    check_fits(real, "Input", discriminator.placeholder_specs[real], (data.input_shape, data.input_dtype), data.name)
    model = torch.nn.Module()  # both networks' node submodules, named by node id
    for network in (generator, discriminator):
        for node_id, module in network.module.named_children():
            model.add_module(node_id, module)
    if config.init_weights:
        warned = warned + start_from(model, config.init_weights, base_dir)
    frozen = frozen_modules(model, config.frozen)
    model.to(device)
    optimizers = tuple(build_optimizer(config.optimizer, parameter_groups(network.module, config.optimizer.lr,
                                                                          config.lr_scale))
                       for network in (generator, discriminator))
    schedule, scaler, steps_per_epoch, paced = pace(config, dist, data, device, single_sample_fails(doc, report))
    return GanSetup(config, dist, device, data, model, optimizers, schedule, scaler,
                    JointGradNorms(generator.module, discriminator.module), steps_per_epoch, warned + paced,
                    generator, discriminator, frozen=frozen)


def _check_networks(doc: GraphDocument, report: ValidationReport, generator: CompiledGraph,
                    discriminator: CompiledGraph) -> None:
    """Two separate networks covering the graph: noise → sample-shaped fake, data → (N, 1) logit."""
    (gen_out,), (disc_out,) = generator.output_names, discriminator.output_names
    noise = noise_inputs(doc, generator)
    fed_by_data = [name for name in generator.input_names if name not in noise]
    if fed_by_data:
        raise ConfigError(f"training.gan.generator: {gen_out} depends on {fed_by_data[0]}, an Input of data — a "
                          f"generator starts from noise: set {fed_by_data[0]}'s source to noise, or wire "
                          f"{gen_out} from a noise Input")
    if noise := [name for name in discriminator.input_names if is_noise(doc.nodes[name].params)]:
        raise ConfigError(f"training.gan.discriminator: {disc_out} depends on the noise Input {noise[0]} — the "
                          f"discriminator sees data samples only (the trainer feeds it the generator's too)")
    if len(discriminator.input_names) != 1:
        raise ConfigError(f"training.gan.discriminator: {disc_out} depends on the Inputs "
                          f"{', '.join(discriminator.input_names)} — it must judge one data Input")
    # With noise feeding only G and data only D, no node can belong to both (each node descends from an Input).
    members = _nodes(generator) | _nodes(discriminator)
    if stray := [node_id for node_id in doc.nodes if node_id not in members]:
        raise ConfigError(f"training.gan: {', '.join(stray)} belong to neither the generator ({gen_out}) nor the "
                          f"discriminator ({disc_out}) — gan mode builds its losses itself; delete them")
    real = discriminator.input_names[0]
    sample, fake = discriminator.placeholder_specs[real][0], _fed_shape(doc, report, gen_out)
    if tuple(fake[1:]) != tuple(sample[1:]):
        raise ConfigError(f"training.gan.generator: {gen_out} gets {format_shape(fake)}, but the discriminator's "
                          f"Input {real} takes {format_shape(sample)} — the generator must make samples shaped "
                          f"like the data (end it with Reshape {list(sample[1:])})")
    logit = _fed_shape(doc, report, disc_out)
    if tuple(logit[1:]) != (1,):
        raise ConfigError(f"training.gan.discriminator: {disc_out} gets {format_shape(logit)} — the discriminator "
                          f"must give one logit per sample, (N, 1); end it with a Linear of out_features 1")
    for key, network, output in (("generator", generator, gen_out), ("discriminator", discriminator, disc_out)):
        if not any(True for _ in network.module.parameters()):
            raise ConfigError(f"training.gan.{key}: nothing to train — no node on the way to {output} has weights; "
                              f"add a layer that learns (Linear, Conv2d, …)")


def _nodes(network: CompiledGraph) -> set[str]:
    return {*network.input_names, *network.output_names, *(name for name, _ in network.module.named_children())}


def _fed_shape(doc: GraphDocument, report: ValidationReport, output_id: str):
    (wire,) = doc.edges_into(output_id, "in")
    return report.edge_shape(wire)


class GanTrainer(Trainer):
    SUMS = ("loss_sum", "discriminator_loss_sum")  # Σ L_G·n, Σ L_D·n
    LOSS_NAMES = ("generator", "discriminator")
    KEEPS_BEST = False
    s: GanSetup

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        s = self.s
        generator_opt, discriminator_opt = s.optimizers
        self._apply_schedule()
        x = s.data.augment(x)
        n = len(x)
        real, fake_label = torch.ones(n, 1, device=x.device), torch.zeros(n, 1, device=x.device)
        with s.autocast():
            fake = s.generate(n)
            d_loss = (F.binary_cross_entropy_with_logits(s.discriminate(x), real)
                      + F.binary_cross_entropy_with_logits(s.discriminate(fake.detach()), fake_label))
        d_norms = self._update(discriminator_opt, d_loss, s.discriminator.module, s.grad_norms.parts[1])
        with s.autocast():
            g_loss = F.binary_cross_entropy_with_logits(s.discriminate(fake), real)
        g_norms = self._update(generator_opt, g_loss, s.generator.module, s.grad_norms.parts[0])
        s.scaler.update()
        self.clip_norms = JointGradNorms.join([g_norms, d_norms]) if s.config.grad_clip else None
        d_loss = d_loss.detach().float()
        self._record(torch.stack([g_loss.detach().float(), d_loss]), d_loss * n, n)

    def _update(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor, network: torch.nn.Module,
                norms: GradNorms) -> GradNormPair | None:
        """Backpropagate `loss` into `network`'s parameters only and step its optimizer; with grad_clip,
        returns the network's gradient norms measured before clipping."""
        s = self.s
        optimizer.zero_grad(set_to_none=True)
        s.scaler.scale(loss).backward(inputs=list(network.parameters()))
        s.scaler.unscale_(optimizer)
        measured = None
        if s.config.grad_clip:
            measured = norms()
            s.dist.clip_grads(network, s.config.grad_clip, measured[1])
        s.scaler.step(optimizer)
        return measured

    def _scores(self, train_loss: float, d_loss_sum: float, samples: int, scored: int) -> dict[str, Any]:
        return {"val_loss": self._validate(), "train_accuracy": None, "val_accuracy": None,
                "losses": {"generator": train_loss, "discriminator": d_loss_sum / samples}}

    @torch.no_grad()
    def _validate(self) -> float | None:
        """L_D over the validation images and as many fakes from a fixed noise (seeded by training.seed)."""
        s = self.s
        s.model.eval()
        noise = torch.Generator(s.device).manual_seed(s.config.seed)
        total, n = torch.zeros((), device=s.device), 0
        for x, _ in self.val_batches.batches(epoch_order(len(s.data.val), 0, 0, shuffle=False), s.config.batch_size):
            with s.autocast():
                fake_logits = s.discriminate(s.generate(len(x), noise))
                loss = (F.binary_cross_entropy_with_logits(s.discriminate(x), torch.ones_like(fake_logits))
                        + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
            total += loss.float() * len(x)
            n += len(x)
        s.train_mode()
        return total.item() / n if n else None  # host sync
