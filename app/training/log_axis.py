"""A y axis whose log-scale ticks stay readable.

pyqtgraph labels every minor tick of a log axis (2, 3, … 9 × 10^k); in a plot a hundred pixels
high their labels overprint each other. This axis keeps only the 1, 2 and 5 × 10^k ticks; on a
linear scale it is pyqtgraph's own.
"""

from __future__ import annotations

import math

import pyqtgraph as pg

SHOWN_MANTISSAS = (1, 2, 5)


class LogAxis(pg.AxisItem):
    def tickValues(self, minVal, maxVal, size):
        levels = super().tickValues(minVal, maxVal, size)
        if not self.logMode:
            return levels
        # in log mode the values are log10 of the data: 10 ** fraction is the tick's mantissa
        return [(spacing, [v for v in values if round(10 ** (v - math.floor(v))) in SHOWN_MANTISSAS])
                for spacing, values in levels]
