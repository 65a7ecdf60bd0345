"""The training section of a graph, read into typed, validated settings.

`TrainingConfig.from_dict(doc.training)` fills every missing setting with its default and rejects
anything malformed with a `ConfigError` naming the field (`training.optimizer.lr: must be > 0, got
-1`); unknown keys are refused too, so a typo never silently falls back to a default.
`to_dict()` gives the complete settings back as plain JSON for the GUI's form and for run records.

`mode` picks the trainer: "supervised" (the graph's loss nodes; a graph without a Target, such as
an autoencoder, trains on its Inputs alone) or "gan", whose `gan` section names the two Output
nodes of the generator and the discriminator (see engine/train/gan.py).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .errors import ConfigError

OPTIMIZERS = ("sgd", "adam", "adamw", "lion")
SCHEDULES = ("constant", "step", "cosine", "warmup_cosine", "onecycle", "cyclic")
MONITORS = ("val_loss", "val_accuracy")
PRECISIONS = ("fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda")
MODES = ("supervised", "gan")
DATA_PLACEMENTS = ("auto", "device", "stream")  # see engine/data/placement.py
COMPILE = ("off", "on", "auto")  # torch.compile; auto weighs its cost against the run (engine/train/speed.py)
# Lion's authors recommend a slower second moment than Adam's.
DEFAULT_BETAS = {"lion": (0.9, 0.99)}
ADAM_BETAS = (0.9, 0.999)


@dataclass(frozen=True)
class OptimizerConfig:
    name: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9  # sgd only
    nesterov: bool = False  # sgd only
    betas: tuple[float, float] = ADAM_BETAS  # adam, adamw, lion


@dataclass(frozen=True)
class ScheduleConfig:
    """Learning-rate schedule; lengths are in epochs and applied per optimizer step."""

    name: str = "constant"
    warmup_epochs: float = 0.0  # warmup_cosine; onecycle's rise (0 = 30 % of the run)
    step_size: float = 10.0  # step: epochs between decays; cyclic: epochs of a half cycle
    gamma: float = 0.1  # step: factor applied every step_size epochs
    min_lr: float = 0.0  # floor of cosine, warmup_cosine, onecycle and cyclic


@dataclass(frozen=True)
class EarlyStoppingConfig:
    patience: int = 0  # epochs without improvement before stopping; 0 = off
    monitor: str = "val_loss"


@dataclass(frozen=True)
class GanConfig:
    """The Output node ids of a GAN's two networks (checked against the graph by the GAN trainer)."""

    generator: str
    discriminator: str


@dataclass(frozen=True)
class TrainingConfig:
    dataset: dict[str, Any] = field(default_factory=lambda: {"name": "digits"})
    optimizer: OptimizerConfig = OptimizerConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    epochs: int = 10
    batch_size: int = 32
    grad_clip: float = 0.0  # max global gradient norm; 0 = off
    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()
    precision: str = "fp32"  # bf16/fp16 autocast on CUDA only; fp16 adds a GradScaler
    seed: int = 0
    device: str = "auto"
    num_threads: int = 0  # torch CPU threads; 0 = one fewer than the usable cores (at least 1)
    data_placement: str = "auto"  # the data on the device for the run, or streamed by DataLoader workers
    data_workers: int | str = "auto"  # DataLoader worker processes when streaming; 0 = in the training process
    compile: str = "off"  # torch.compile the model: off | on | auto
    init_weights: str = ""  # a safetensors file a fresh run starts from (relative to the graph's folder); "" = none
    pretrained: str = ""  # the published weights it is made for (torchvision:resnet18:…): engine/published_weights.py
    frozen: tuple[str, ...] = ()  # node / block ids whose weights and norm statistics stay as they are
    lr_scale: dict[str, float] = field(default_factory=dict)  # node / block id → factor of the learning rate
    profile: bool = False  # measure each node's time and memory over a few steps first (engine/inspect/profile.py)
    activation_stats: bool = True  # per-node activation statistics at log points (engine/inspect/activations.py)
    mode: str = "supervised"
    gan: GanConfig | None = None  # set exactly when mode is "gan"

    @classmethod
    def from_dict(cls, data: Any) -> TrainingConfig:
        r = _Reader(data, "training")
        r.only({f.name for f in fields(cls)})
        dataset = r.value("dataset", {"name": "digits"})
        if not isinstance(dataset, dict) or not isinstance(dataset.get("name"), str):
            raise ConfigError(f"training.dataset: expected an object with a \"name\", got {dataset!r}")
        mode = r.choice("mode", cls.mode, MODES)
        early_stopping = _early_stopping(r.section("early_stopping"))
        if mode == "gan" and early_stopping.patience:
            raise r.fail("early_stopping", "a GAN's losses do not measure how good its samples are, so there is "
                                           "nothing to stop early on — set patience to 0 in gan mode")
        return cls(
            dataset=dict(dataset),
            optimizer=_optimizer(r.section("optimizer")),
            schedule=_schedule(r.section("schedule")),
            epochs=r.integer("epochs", cls.epochs, low=1),
            batch_size=r.integer("batch_size", cls.batch_size, low=1),
            grad_clip=r.number("grad_clip", cls.grad_clip, low=0.0),
            early_stopping=early_stopping,
            precision=r.choice("precision", cls.precision, PRECISIONS),
            seed=r.integer("seed", cls.seed, low=0),
            device=r.choice("device", cls.device, DEVICES),
            num_threads=r.integer("num_threads", cls.num_threads, low=0),
            data_placement=r.choice("data_placement", cls.data_placement, DATA_PLACEMENTS),
            data_workers=r.integer_or_auto("data_workers", cls.data_workers, low=0),
            compile=r.choice("compile", cls.compile, COMPILE),
            init_weights=r.file_path("init_weights"),
            pretrained=_pretrained(r),
            frozen=r.ids("frozen"),
            lr_scale=r.factors("lr_scale"),
            profile=r.boolean("profile", cls.profile),
            activation_stats=r.boolean("activation_stats", cls.activation_stats),
            mode=mode,
            gan=_gan(r, mode),
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["optimizer"]["betas"] = list(self.optimizer.betas)
        data["frozen"] = list(self.frozen)
        return data


def _optimizer(r: _Reader) -> OptimizerConfig:
    r.only({f.name for f in fields(OptimizerConfig)})
    d = OptimizerConfig
    name = r.choice("name", d.name, OPTIMIZERS)
    betas = r.value("betas", DEFAULT_BETAS.get(name, ADAM_BETAS))
    if not (isinstance(betas, (list, tuple)) and len(betas) == 2
            and all(_is_number(b) and 0 <= b < 1 for b in betas)):
        raise ConfigError(f"{r.path}.betas: expected two numbers in [0, 1), got {betas!r}")
    config = OptimizerConfig(
        name=name,
        lr=r.number("lr", d.lr, low=0.0, low_open=True),
        weight_decay=r.number("weight_decay", d.weight_decay, low=0.0),
        momentum=r.number("momentum", d.momentum, low=0.0, high=1.0),
        nesterov=r.boolean("nesterov", d.nesterov),
        betas=(float(betas[0]), float(betas[1])),
    )
    if config.nesterov and not config.momentum:
        raise r.fail("nesterov", "needs momentum > 0 — set training.optimizer.momentum (e.g. 0.9)")
    return config


def _schedule(r: _Reader) -> ScheduleConfig:
    r.only({f.name for f in fields(ScheduleConfig)})
    d = ScheduleConfig
    return ScheduleConfig(
        name=r.choice("name", d.name, SCHEDULES),
        warmup_epochs=r.number("warmup_epochs", d.warmup_epochs, low=0.0),
        step_size=r.number("step_size", d.step_size, low=0.0, low_open=True),
        gamma=r.number("gamma", d.gamma, low=0.0, low_open=True),
        min_lr=r.number("min_lr", d.min_lr, low=0.0),
    )


def _early_stopping(r: _Reader) -> EarlyStoppingConfig:
    r.only({f.name for f in fields(EarlyStoppingConfig)})
    return EarlyStoppingConfig(
        patience=r.integer("patience", EarlyStoppingConfig.patience, low=0),
        monitor=r.choice("monitor", EarlyStoppingConfig.monitor, MONITORS),
    )


def _gan(parent: _Reader, mode: str) -> GanConfig | None:
    if mode != "gan":
        if parent.value("gan", None) is not None:
            raise parent.fail("gan", "only used in gan mode — set training.mode to \"gan\" or remove this section")
        return None
    if parent.value("gan", None) is None:
        raise parent.fail("gan", "gan mode needs {\"generator\": <Output id>, \"discriminator\": <Output id>} "
                                 "naming the Output node of each network")
    r = parent.section("gan")
    r.only({f.name for f in fields(GanConfig)})
    config = GanConfig(generator=r.text("generator"), discriminator=r.text("discriminator"))
    if config.generator == config.discriminator:
        raise r.fail("discriminator", f"must be another Output node than the generator's ({config.generator!r})")
    return config


def _pretrained(r: _Reader) -> str:
    """`training.pretrained`: "" or a published-weights source (`torchvision:resnet18:IMAGENET1K_V1`, `timm:…`,
    `hf:owner/name`) — what `layerloom weights fetch` brings; until it has, a run starts from random weights."""
    from .published_weights import PublishedSourceError, parse_source

    value = r.file_path("pretrained")
    if not value:
        return ""
    try:
        return str(parse_source(value))
    except PublishedSourceError as exc:
        raise r.fail("pretrained", str(exc)) from None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class _Reader:
    """Typed reads of one section's keys, raising ConfigError with the dotted field path."""

    def __init__(self, data: Any, path: str):
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected an object, got {data!r}")
        self.data, self.path = data, path

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.path}.{key}: {message}")

    def only(self, allowed: set[str]) -> None:
        for key in self.data:
            if key not in allowed:
                raise self.fail(key, f"unknown setting — expected one of {', '.join(sorted(allowed))}")

    def value(self, key: str, default: Any) -> Any:
        return self.data.get(key, default)

    def section(self, key: str) -> _Reader:
        return _Reader(self.data.get(key), f"{self.path}.{key}")

    def number(self, key: str, default: float, *, low: float | None = None, high: float | None = None,
               low_open: bool = False) -> float:
        value = self.data.get(key, default)
        if not _is_number(value):
            raise self.fail(key, f"expected a number, got {value!r}")
        if low is not None and (value <= low if low_open else value < low):
            raise self.fail(key, f"must be {'>' if low_open else '≥'} {low:g}, got {value}")
        if high is not None and value > high:
            raise self.fail(key, f"must be ≤ {high:g}, got {value}")
        return float(value)

    def integer(self, key: str, default: int, *, low: int) -> int:
        value = self.data.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(key, f"expected a whole number, got {value!r}")
        if value < low:
            raise self.fail(key, f"must be ≥ {low}, got {value}")
        return value

    def integer_or_auto(self, key: str, default: int | str, *, low: int) -> int | str:
        if self.data.get(key, default) == "auto":
            return "auto"
        try:
            return self.integer(key, default, low=low)
        except ConfigError:
            raise self.fail(key, f"expected \"auto\" or a whole number ≥ {low}, got {self.data.get(key)!r}") from None

    def text(self, key: str) -> str:
        """A required, non-empty string."""
        value = self.data.get(key)
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"expected a node id, got {value!r}")
        return value

    def ids(self, key: str) -> tuple[str, ...]:
        """An optional list of node ids."""
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            raise self.fail(key, f"expected a list of node ids, got {value!r}")
        return tuple(dict.fromkeys(value))

    def factors(self, key: str) -> dict[str, float]:
        """An optional {node id: positive number} object."""
        value = self.data.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(k, str) and k and _is_number(v) and 0 < v < math.inf
                                                  for k, v in value.items()):
            raise self.fail(key, f"expected {{node id: a positive factor}}, got {value!r}")
        return {k: float(v) for k, v in value.items()}

    def file_path(self, key: str) -> str:
        """An optional file path: a string, "" when absent."""
        value = self.data.get(key, "")
        if not isinstance(value, str):
            raise self.fail(key, f"expected a file path, got {value!r}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {value!r}")
        return value

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.data.get(key, default)
        if value not in choices:
            raise self.fail(key, f"expected one of {', '.join(choices)}, got {value!r}")
        return value
