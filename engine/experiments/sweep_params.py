"""What a sweep varies: `--param PATH=KIND:ARGS`, parsed, sampled through an Optuna trial, applied to a graph.

    training.optimizer.lr=log:1e-4:1e-1      a float, log-uniform
    training.optimizer.weight_decay=float:0:0.1[:0.01]   a float, uniform (on a step when given)
    nodes.fc1.out_features=int:32:256[:32]   a whole number (on a step when given)
    training.optimizer.name=choice:adam,sgd  one of the listed values (each read as JSON when it parses)

PATH is any training setting (`training.` and its dotted key, checked by TrainingConfig when applied) or
any parameter of a node of the graph (`nodes.<id>.<param>`). A grid sweep needs finitely many values:
choices and stepped ranges give theirs, a whole-number range without a step every number when there are
few, and a float range GRID_POINTS values spaced as it is sampled (evenly, or evenly in log).
Applying a value that makes the graph invalid is not an error here: that trial fails when it trains.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

from nodes import get_spec

from ..config import TrainingConfig
from ..document import GraphDocument
from ..errors import ConfigError

KINDS = ("log", "float", "int", "choice")
GRID_POINTS = 4  # values of a continuous range in a grid sweep
MAX_GRID_INTS = 16  # a whole-number range without a step is gridded on every value up to this many


@dataclass(frozen=True)
class SweepParam:
    path: str  # training.optimizer.lr | nodes.fc1.out_features
    kind: str  # log | float | int | choice
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple = ()

    @classmethod
    def parse(cls, text: str) -> SweepParam:
        """`PATH=KIND:ARGS`, refused with a message that names the part at fault."""
        path, sep, spec = text.partition("=")
        path, spec = path.strip(), spec.strip()
        if not sep or not path or not spec:
            raise ConfigError(f"--param {text!r}: expected PATH=KIND:ARGS, e.g. training.optimizer.lr=log:1e-4:1e-1")
        if not (path.startswith("training.") and len(path) > 9) and not (
                path.startswith("nodes.") and path.count(".") >= 2 and all(path.split(".", 2))):
            raise ConfigError(f"--param {text!r}: {path!r} names neither a training setting (training.KEY…) nor a "
                              f"node parameter (nodes.ID.PARAM)")
        kind, _, args = spec.partition(":")
        if kind not in KINDS:
            raise ConfigError(f"--param {text!r}: unknown kind {kind!r} — expected one of {', '.join(KINDS)}")
        if kind == "choice":
            values = tuple(_value(v.strip()) for v in args.split(",") if v.strip())
            if len(values) < 2 or len(set(map(json.dumps, values))) != len(values):
                raise ConfigError(f"--param {text!r}: choice needs two or more different values, e.g. choice:adam,sgd")
            return cls(path, kind, choices=values)
        parts = args.split(":")
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            raise ConfigError(f"--param {text!r}: {kind} needs numbers LOW:HIGH[:STEP], got {args!r}") from None
        if len(numbers) not in (2, 3) or (kind == "log" and len(numbers) != 2) or not all(map(math.isfinite, numbers)):
            raise ConfigError(f"--param {text!r}: {kind} needs LOW:HIGH" + ("" if kind == "log" else "[:STEP]"))
        low, high, *step = numbers
        if not low < high or (kind == "log" and low <= 0) or (step and step[0] <= 0):
            raise ConfigError(f"--param {text!r}: needs LOW < HIGH" + (", both > 0" if kind == "log" else "")
                              + (", STEP > 0" if step else ""))
        if kind == "int" and not all(n == int(n) for n in numbers):
            raise ConfigError(f"--param {text!r}: int needs whole numbers, got {args!r}")
        return cls(path, kind, low, high, step[0] if step else None)

    def suggest(self, trial) -> Any:
        """This parameter's value for an Optuna trial as Optuna stores it (a grid sampler picks it from `grid()`;
        a choice is stored as its index: `value_of` gives the value)."""
        if self.kind == "choice":
            return trial.suggest_categorical(self.path, list(range(len(self.choices))))
        if self.kind == "int":
            return trial.suggest_int(self.path, int(self.low), int(self.high), step=int(self.step or 1))
        return trial.suggest_float(self.path, self.low, self.high, log=self.kind == "log", step=self.step)

    def grid(self) -> list:
        """The values a grid sweep tries, as Optuna stores them (a choice: its index)."""
        if self.kind == "choice":
            return list(range(len(self.choices)))
        if self.step is not None or (self.kind == "int" and self.high - self.low < MAX_GRID_INTS):
            step = self.step or 1
            values = [self.low + k * step for k in range(int((self.high - self.low) / step + 1e-9) + 1)]
        elif self.kind == "log":
            ratio = self.high / self.low
            values = [self.low * ratio ** (k / (GRID_POINTS - 1)) for k in range(GRID_POINTS)]
        else:
            values = [self.low + (self.high - self.low) * k / (GRID_POINTS - 1) for k in range(GRID_POINTS)]
        return sorted({int(round(v)) for v in values}) if self.kind == "int" else values

    def value_of(self, stored: Any) -> Any:
        """A trial's stored value as the graph takes it (a choice's index → the choice)."""
        return self.choices[stored] if self.kind == "choice" else stored

    def to_dict(self) -> dict:
        return {**asdict(self), "choices": list(self.choices)}

    @classmethod
    def from_dict(cls, data: dict) -> SweepParam:
        return cls(**{**data, "choices": tuple(data.get("choices", ()))})


def check_params(doc: GraphDocument, params: list[SweepParam]) -> None:
    """Each path names something the graph has: a node and one of its type's parameters, or a training
    setting that takes a value of the parameter's kind (its lowest value is applied and read)."""
    paths = [p.path for p in params]
    if len(set(paths)) != len(paths):
        raise ConfigError(f"--param: {next(p for p in paths if paths.count(p) > 1)} is swept twice")
    for param in params:
        if param.path.startswith("nodes."):
            _, node_id, name = param.path.split(".", 2)
            if node_id not in doc.nodes:
                raise ConfigError(f"--param {param.path}: the graph has no node {node_id!r} — its nodes are "
                                  f"{', '.join(doc.nodes)}")
            spec = get_spec(doc.nodes[node_id].type_id)
            names = [p.name for p in spec.params] if spec else []
            if name not in names:
                raise ConfigError(f"--param {param.path}: {node_id} ({doc.nodes[node_id].type_id}) has no parameter "
                                  f"{name!r} — it has {', '.join(names) or 'none'}")
        else:
            first = param.choices[0] if param.kind == "choice" else (
                int(param.low) if param.kind == "int" else param.low)
            TrainingConfig.from_dict(set_training(doc.training, param.path, first))


def apply_values(doc: GraphDocument, values: dict[str, Any]) -> None:
    """Set each `path: value` on `doc` (a copy the trial trains; the graph file is never written)."""
    for path, value in values.items():
        if path.startswith("nodes."):
            _, node_id, name = path.split(".", 2)
            doc.set_param(node_id, name, value)
        else:
            key = path.split(".")[1]
            doc.set_training(key, set_training(doc.training, path, value)[key])


def set_training(training: dict, path: str, value: Any) -> dict:
    """A copy of the training section with the dotted `training.a.b` set to `value`."""
    keys = path.split(".")[1:]
    result = json.loads(json.dumps(training))
    section = result
    for key in keys[:-1]:
        child = section.get(key)
        section[key] = child = dict(child) if isinstance(child, dict) else {}
        section = child
    section[keys[-1]] = value
    return result


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
