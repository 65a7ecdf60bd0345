"""Axes of the live view's small plots whose tick labels stay readable.

`SpacedAxis`: pyqtgraph always labels its major ticks and spaces them by the axis length alone, so in
a plot 150 pixels wide "0 2000 4000 6000" ran together ("20004000"), and in one 50 pixels high the
labels of a y axis touched. This axis widens the major spacing (1, 2, 5 × 10^k) until each label has
its extent along the axis and a gap to itself, and labels the major ticks only (minor ones are marks).

`StepAxis` (x, a count of steps) also abbreviates its labels: 500, 1.5k, 12k, 3M.

`LogAxis` (y): pyqtgraph labels every minor tick of a log axis (2, 3, … 9 × 10^k); in a plot a hundred
pixels high their labels overprint each other. This axis keeps only the 1, 2 and 5 × 10^k ticks; on a
linear scale it is a SpacedAxis.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtGui import QFontMetricsF

SHOWN_MANTISSAS = (1, 2, 5)
LABEL_GAP_PX = 12  # between two labels side by side at least (a third of it between stacked ones)


def count_label(value: float) -> str:
    """A count as a short label: 500, 1.5k, 12k, 2.25M (at most three significant digits are needed: ticks
    fall on multiples of 1, 2 or 5 × 10^k)."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.4g}{suffix}"
    return f"{value:.4g}"


def _next_spacing(spacing: float) -> float:
    """The next of 1, 2, 5 × 10^k above `spacing`."""
    power = 10.0 ** math.floor(math.log10(spacing))
    mantissa = spacing / power
    return power * next((m for m in (2, 5, 10) if m > mantissa + 1e-9), 20)


class SpacedAxis(pg.AxisItem):
    def __init__(self, orientation: str, **kwargs):
        super().__init__(orientation, **kwargs)
        self.setStyle(maxTextLevel=0)  # label the major ticks only: minor ones are marks

    def setLogMode(self, *args, **kwargs) -> None:
        super().setLogMode(*args, **kwargs)
        self.setStyle(maxTextLevel=2 if self.logMode else 0)  # log: pyqtgraph's own levels (LogAxis thins them)

    def tickSpacing(self, minVal, maxVal, size):
        levels = super().tickSpacing(minVal, maxVal, size)
        span = abs(maxVal - minVal)
        if not levels or self.logMode or span == 0 or size <= 0:
            return levels
        metrics = QFontMetricsF(self.style["tickFont"] or self.font())
        across = self.orientation in ("top", "bottom")  # labels side by side (else stacked)
        low, high = min(minVal, maxVal), max(minVal, maxVal)
        major = levels[0][0]
        for _ in range(30):
            if across:  # the widest labels are at the ends: a negative one at the low end, the longest at the high
                first, last = math.ceil(low / major) * major, math.floor(high / major) * major
                labels = self.tickStrings([first, last, last - major], 1.0, major)
                extent = max(metrics.horizontalAdvance(label) for label in labels) + LABEL_GAP_PX
            else:
                extent = metrics.height() + LABEL_GAP_PX / 3
            if major / span * size >= extent:
                break
            major = _next_spacing(major)
        mantissa = round(major / 10.0 ** math.floor(math.log10(major)))
        return [(major, 0), (major / (4 if mantissa == 2 else 5), 0)]


class StepAxis(SpacedAxis):
    def __init__(self, orientation: str = "bottom", **kwargs):
        super().__init__(orientation, **kwargs)
        self.enableAutoSIPrefix(False)  # the labels carry their own k / M

    def tickStrings(self, values, scale, spacing):
        if self.logMode:
            return super().tickStrings(values, scale, spacing)
        return [count_label(v * scale) for v in values]


class LogAxis(SpacedAxis):
    def tickValues(self, minVal, maxVal, size):
        levels = super().tickValues(minVal, maxVal, size)
        if not self.logMode:
            return levels
        # in log mode the values are log10 of the data: 10 ** fraction is the tick's mantissa
        return [(spacing, [v for v in values if round(10 ** (v - math.floor(v))) in SHOWN_MANTISSAS])
                for spacing, values in levels]
