"""What a run's instruments found, drawn on the canvas the user drew: the node where the first NaN/inf
appeared (a red halo with its step), each node's latest activation statistics (a badge), and the dead or
saturated layers, listed in the problems panel with their step.

The controller hands it every event of the run on screen (`add`), a whole stored run (`show`), redraws the
badges on its badge timer (`draw`), and clears it when the run leaves the screen or the graph is edited
(`clear`): the marks describe the graph as trained.
"""

from __future__ import annotations

import math

from engine.inspect import DEAD, SATURATED
from engine.validate import Diagnostic

from .activation_heatmap import ActivationRows
from .marks import NodeMarks

NAN_COLOR, WARN_COLOR, PLAIN_COLOR = "#e5484d", "#e8a317", "#9aa0a6"


class CanvasTelemetry:
    def __init__(self, scene, problems=None):
        self.nan = NodeMarks(scene, "nan", "halo")
        self.badges = NodeMarks(scene, "activations", "below")  # under the card: the gradient badge is above
        self.problems = problems
        self.rows = ActivationRows()
        self.findings: list[Diagnostic] = []
        self.events: list[dict] = []

    def add(self, event: dict) -> None:
        kind = event.get("type")
        if kind == "artifact" and event.get("tag") == "nan_origin":
            origin = event["data"]
            self.nan.set(origin["node"], f"{origin['value']} here at step {origin['step']}", NAN_COLOR)
        elif kind == "step" and event.get("activations"):
            self.events.append(event)
        elif kind == "warning" and event.get("node"):
            node = event["node"]
            self.findings.append(Diagnostic("warning", event["message"].removeprefix(f"{node}: "), node))
            if self.problems is not None:
                self.problems.show_run_findings(self.findings)

    def show(self, events: list[dict]) -> None:
        self.clear()
        for event in events:
            self.add(event)
        self.draw()

    def draw(self) -> None:
        """Each measured node's badge from the latest measured step."""
        if not self.rows.fold(self.events):
            return
        for node_id, stats in self.rows.latest().items():
            self.badges.set(node_id, *badge(stats))

    def clear(self) -> None:
        self.nan.clear()
        self.badges.clear()
        self.rows, self.events, self.findings = ActivationRows(), [], []
        if self.problems is not None:
            self.problems.show_run_findings([])


def badge(stats: dict[str, float]) -> tuple[str, str]:
    """(text, colour) of a node's activation badge: what is wrong first, else its spread and zeros."""
    if stats["nonfinite"] > 0:
        return f"NaN/inf {stats['nonfinite']:.0%}", NAN_COLOR
    if stats["zero"] > DEAD:
        return f"zeros {stats['zero']:.0%}", NAN_COLOR
    if math.isfinite(stats["saturated"]) and stats["saturated"] > SATURATED:
        return f"saturated {stats['saturated']:.0%}", WARN_COLOR
    return f"σ {stats['std']:.2g} · zeros {stats['zero']:.0%}", PLAIN_COLOR
