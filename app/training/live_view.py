"""The live view dock: loss, the kind's metric, learning rate and gradient norms of the current run,
and the panel of its task kind (a GAN's samples, an autoencoder's reconstructions, a language model's
text, a classifier's confusion matrix…; see kind_views/).

Events are appended to a RunRecord as they arrive (in the GUI thread, cheap); a timer at
REDRAW_HZ redraws one panel whose data changed per tick, in turn, so a burst of events costs one
redraw per panel and no tick paints more than one plot. Curves use pyqtgraph's peak downsampling
and clip-to-view, so a long run stays smooth.

The run's kind (kind_views.view_for) decides the second plot (accuracy, D(real)/D(fake), perplexity…,
hidden when the kind has none), the loss legends and the panel beside the plots; it is looked at
again whenever the record changes, so a run whose started event names its kind switches at once.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from engine.train.bound import data_or_compute

from ..inspect.activation_heatmap import ActivationHeatmap
from .heatmap import GradientHeatmap
from .kind_views import KindPanel, KindView, epoch_series, view_for
from .kind_views.widgets import latest
from .log_axis import LogAxis, SpacedAxis, StepAxis
from .plot_theme import apply_plot_theme, fit_row, legend_below
from .runs import RunRecord, format_seconds, smooth

REDRAW_HZ = 20  # the spec allows 10–30 Hz; each tick redraws ONE stale panel (software repaints cost ~15 ms
PANELS = ("loss", "metric", "lr", "grad", "heatmap", "activations",  # each), so a tick never stalls the
          "kind")  # editor long
SMOOTHING = 0.9
PLOTS_MIN_HEIGHT = 150  # px, at the least; more when the legends under the plots need it (plot_theme.fit_row)
COLORS = ("#4e9cf5", "#f5a34e", "#5fd068", "#e5484d", "#b07cf5", "#f5e04e", "#4ef5e0")


def _curve(plot: pg.PlotItem, color: str, name: str, style=Qt.PenStyle.SolidLine, symbol=None) -> pg.PlotDataItem:
    item = plot.plot(pen=pg.mkPen(color, width=1.5, style=style), name=name, connect="finite",
                     symbol=symbol, symbolSize=6, symbolBrush=color)
    item.setDownsampling(auto=True, method="peak")
    item.setClipToView(True)
    return item


class LiveView(QWidget):
    node_requested = Signal(str)  # "worst layer" clicked: select and centre this node
    worker_request = Signal(object)  # the kind panel asks the worker about the run on screen (a command dict)

    def hasHeightForWidth(self) -> bool:
        """No: its wrapping status line would make the scroll area round it (in its dock, see
        controller._holding) size it to its whole preferred height, twice a dock's, instead of to the dock."""
        return False

    def __init__(self, parent=None):
        super().__init__(parent)
        self.record: RunRecord | None = None
        self.overlays: list[RunRecord] = []  # earlier runs whose loss is drawn dashed under this one's
        self._drawn = dict.fromkeys(PANELS, -1)  # record version each panel last showed
        self._turn = 0  # the panel the round-robin looks at first on the next tick
        self.status = QLabel("No run yet — press Train (F5).", wordWrap=True)
        self.progress = QProgressBar(textVisible=True)
        self.progress.setFormat("idle")
        self.worst = QPushButton("Worst layer: —", enabled=False, clicked=self._worst_clicked)
        self.worst_mode = QComboBox()
        self.worst_mode.addItems(["largest", "smallest"])
        self.worst_mode.currentTextChanged.connect(lambda _: self._update_worst())
        self.smoothing = QCheckBox("Smooth loss", checked=True)
        self.log_scale = QCheckBox("Log loss", checked=False)
        self.log_scale.toggled.connect(lambda on: self.loss_plot.setLogMode(y=on))
        for box in (self.smoothing,):
            box.toggled.connect(self._force_redraw)

        self.plots = pg.GraphicsLayoutWidget()
        # one row, placed by _arrange_plots (the heatmap below keeps its rows' height: no room for two rows)
        # x: steps, labelled so that they fit a narrow plot; legends under the axes, never over the curves
        self.loss_plot = pg.PlotItem(title="Loss", axisItems={"left": LogAxis("left"), "bottom": StepAxis()})
        self.metric_plot = pg.PlotItem(title="Accuracy", axisItems={"left": SpacedAxis("left"),  # the kind's metric
                                                                   "bottom": StepAxis()})
        self.lr_plot = pg.PlotItem(title="Learning rate", axisItems={"left": SpacedAxis("left"), "bottom": StepAxis()})
        self.grad_plot = pg.PlotItem(title="Gradient norm", axisItems={"left": LogAxis("left"), "bottom": StepAxis()})
        for plot in (self.loss_plot, self.metric_plot, self.lr_plot, self.grad_plot):
            legend_below(plot).resized.connect(self._fit_plots)
            plot.setTitle(plot.titleLabel.text, size="9pt")  # narrow plots beside the kind's panel
            plot.getAxis("bottom").setLabel("step")
        self.grad_plot.setLogMode(y=True)
        self.curves = {
            "loss": _curve(self.loss_plot, COLORS[0], "train"),
            "val_loss": _curve(self.loss_plot, COLORS[1], "val", symbol="o"),
            "lr": _curve(self.lr_plot, COLORS[2], "lr"),
            "grad_norm": _curve(self.grad_plot, "#dddddd", "global"),
        }
        self.layer_curves: dict[str, pg.PlotDataItem] = {}
        self.named_loss_curves: dict[str, pg.PlotDataItem] = {}  # a GAN's generator and discriminator losses
        self.metric_curves: dict[str, pg.PlotDataItem] = {}  # field → curve, as the kind's view lists them
        self.view: KindView | None = None  # the kind of the run on screen decides the panels (kind_views)
        self.kind_panel: KindPanel | None = None
        self.kind_box = QWidget()  # holds the kind panel beside the plots
        QVBoxLayout(self.kind_box).setContentsMargins(0, 0, 0, 0)
        self.overlay_curves: list[pg.PlotDataItem] = []
        self.heatmap = GradientHeatmap()
        self.heatmap.layers_chosen.connect(self._layers_chosen)
        self.activations = ActivationHeatmap()  # beside the gradient heatmap (engine/inspect/activations.py)

        top = QHBoxLayout()
        top.addWidget(self.progress, 1)
        top.addWidget(self.worst)
        top.addWidget(self.worst_mode)
        options = QHBoxLayout()
        for widget in (self.smoothing, self.log_scale,
                       QLabel("<span style='color:gray'>Tick runs in the Runs list to compare them</span>")):
            options.addWidget(widget)
        options.addStretch(1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.plots)
        heatmaps = QSplitter(Qt.Orientation.Horizontal)
        heatmaps.addWidget(self.heatmap)
        heatmaps.addWidget(self.activations)
        heatmaps.setChildrenCollapsible(False)
        split.addWidget(heatmaps)
        split.setSizes([260, 140])
        split.setStretchFactor(0, 3)  # the curves get the room; the heatmap keeps its rows' height
        split.setChildrenCollapsible(False)
        self.body = QSplitter(Qt.Orientation.Horizontal)  # the curves, and the kind's panel beside them, full height
        self.body.addWidget(split)
        self.body.addWidget(self.kind_box)
        self.body.setStretchFactor(0, 3)
        self.body.setStretchFactor(1, 2)
        self.body.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        for row in (top, options):
            layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addWidget(self.body, 1)
        layout.addStretch(0)  # takes the room only while the body is hidden (compact)
        self._apply_kind(KindView())
        self.timer = QTimer(self, interval=1000 // REDRAW_HZ)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    # -- runs -----------------------------------------------------------------------------------
    def show_run(self, record: RunRecord | None) -> None:
        self.record = record
        self.heatmap.clear()
        self.activations.clear()
        for curve in self.layer_curves.values():
            self.grad_plot.removeItem(curve)
        self.layer_curves.clear()
        for curve in self.named_loss_curves.values():
            self.loss_plot.removeItem(curve)
        self.named_loss_curves.clear()
        self.view = None  # a fresh kind panel: nothing of the last run's stays on screen
        self._apply_kind(view_for(record))
        self._force_redraw()

    def set_compact(self, compact: bool) -> None:
        """A strip (progress and status only) while no run is on screen, so the canvas gets the room."""
        self.body.setVisible(not compact)

    @property
    def compact(self) -> bool:
        return self.body.isHidden()

    def apply_theme(self, theme) -> None:
        """Plot backgrounds, axes, titles and the global gradient curve in the window's theme colours."""
        apply_plot_theme(self.plots, [self.loss_plot, self.metric_plot, self.lr_plot, self.grad_plot], theme)
        apply_plot_theme(self.heatmap.plot, [self.heatmap.plot.getPlotItem()], theme)
        apply_plot_theme(self.activations.plot, [self.activations.plot.getPlotItem()], theme)
        self.curves["grad_norm"].setPen(pg.mkPen(theme.text, width=1.5))

    def clear(self) -> None:
        """No run on screen (another graph was opened): empty plots, heatmap and status."""
        self.show_run(None)
        self.set_overlays([])
        for curve in self.curves.values():
            curve.setData([], [])
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self._update_worst()
        self.set_status("No run yet — press Train (F5).")

    def set_overlays(self, runs: list[RunRecord]) -> None:
        """Earlier runs to draw (smoothed, dashed) on the loss plot for comparison."""
        for curve in self.overlay_curves:
            self.loss_plot.removeItem(curve)
        self.overlays = list(runs)
        self.overlay_curves = [_curve(self.loss_plot, COLORS[(4 + i) % len(COLORS)], run.name, Qt.PenStyle.DashLine)
                               for i, run in enumerate(self.overlays)]
        self._force_redraw()

    def _layers_chosen(self, node_ids: list[str]) -> None:
        for node_id in set(self.layer_curves) - set(node_ids):
            self.grad_plot.removeItem(self.layer_curves.pop(node_id))
        for i, node_id in enumerate(node_ids):
            if node_id not in self.layer_curves:
                self.layer_curves[node_id] = _curve(self.grad_plot, COLORS[i % len(COLORS)], node_id)
        self._force_redraw()

    # -- the run's kind ----------------------------------------------------------------------------------
    def _apply_kind(self, view: KindView) -> bool:
        """Show the panels of `view`'s kind: metric plot and curves, loss legends, the kind's own panel.
        False when they already show that kind."""
        if self.view is not None and self.view.name == view.name:
            return False
        self.view = view
        for curve in self.metric_curves.values():
            self.metric_plot.removeItem(curve)
        self.metric_curves = {field: _curve(self.metric_plot, COLORS[i % len(COLORS)], label, symbol="o")
                              for i, (field, label) in enumerate(view.metrics)}
        self.metric_plot.setTitle(view.metric_title or "", color=self.loss_plot.titleLabel.opts.get("color"))
        self._arrange_plots(view.metric_title is not None)
        for key, name in zip(("loss", "val_loss"), view.loss_names, strict=True):
            self.loss_plot.legend.removeItem(self.curves[key])
            self.curves[key].opts["name"] = name
            self.loss_plot.legend.addItem(self.curves[key], name)
        if self.kind_panel is not None:
            self.kind_panel.setParent(None)
            self.kind_panel.deleteLater()
        self.kind_panel = view.panel()
        if self.kind_panel is not None:
            self.kind_panel.request.connect(self.worker_request)
            self.kind_box.layout().addWidget(self.kind_panel)
        self.kind_box.setVisible(self.kind_panel is not None)
        if self.kind_panel is not None:  # the panel's pictures and text get a fair share of the width
            width = max(self.body.width(), 800)
            self.body.setSizes([width * 2 // 3, width // 3])
        return True

    def _arrange_plots(self, metric: bool) -> None:
        """Loss, the kind's metric (left out when it has none: a hidden item would still hold its cell),
        learning rate and gradient norm, in a row."""
        layout = self.plots.ci
        for plot in list(layout.items):
            layout.removeItem(plot)
        shown = [self.loss_plot, *([self.metric_plot] if metric else []), self.lr_plot, self.grad_plot]
        for column, plot in enumerate(shown):
            layout.addItem(plot, row=0, col=column)
        self._fit_plots()

    def _fit_plots(self) -> None:
        """The legends of the row as tall as its tallest (the x axes line up), and the plots as tall as their
        legends leave every one a readable data area: the dock's scroll area scrolls rather than crush them."""
        fit_row(self.plots, PLOTS_MIN_HEIGHT)

    def kind_reply(self, message: dict) -> None:
        """The worker's answer to the kind panel's request."""
        if self.kind_panel is not None:
            self.kind_panel.reply(message)

    # -- drawing -----------------------------------------------------------------------------------
    def _force_redraw(self, *_) -> None:
        self._drawn = dict.fromkeys(PANELS, -1)
        self.redraw()

    def redraw(self) -> None:
        """Bring every panel up to date at once (a user's change, a new run)."""
        self._draw(PANELS)

    def show_progress(self) -> None:
        """Bring the progress bar and status line up to date without redrawing any plot."""
        if self.record is not None:
            self._update_progress(self.record)

    def _tick(self) -> None:
        """Timer: redraw the next stale panel in turn, so one tick paints one plot."""
        for i in range(len(PANELS)):
            panel = PANELS[(self._turn + i) % len(PANELS)]
            if self.record is not None and self._drawn[panel] != self.record.version:
                self._turn = (self._turn + i + 1) % len(PANELS)
                self._draw((panel,))
                return

    def _draw(self, panels) -> None:
        record = self.record
        if record is None:
            self._draw_overlays()
            return
        if self._apply_kind(view_for(record)):  # the started event may have just named it
            self._drawn = dict.fromkeys(PANELS, -1)
        for panel in panels:
            if self._drawn[panel] != record.version:
                getattr(self, f"_draw_{panel}")(record)
                self._drawn[panel] = record.version
        self._update_progress(record)
        self._update_worst()

    def _draw_loss(self, record: RunRecord) -> None:
        def shown(values: list[float]) -> list[float]:
            return smooth(values, SMOOTHING) if self.smoothing.isChecked() else values

        # A step with several named losses (GAN) draws one curve each instead of the "train" loss.
        self.curves["loss"].setData(*(([], []) if record.losses else (record.steps, shown(record.loss))))
        if record.losses:
            self.loss_plot.legend.removeItem(self.curves["loss"])  # no legend for the empty curve (a no-op later)
        for i, (name, values) in enumerate(record.losses.items()):
            if name not in self.named_loss_curves:
                self.named_loss_curves[name] = _curve(self.loss_plot, COLORS[(2 + i) % len(COLORS)], name)
            self.named_loss_curves[name].setData(record.steps[-len(values):], shown(values))
        self.curves["val_loss"].setData(*record.epoch_series("val_loss"))
        self._draw_overlays()

    def _draw_overlays(self) -> None:
        for run, curve in zip(self.overlays, self.overlay_curves, strict=True):
            curve.setData(run.steps, smooth(run.loss, SMOOTHING))

    def _draw_metric(self, record: RunRecord) -> None:
        for field, curve in self.metric_curves.items():
            curve.setData(*epoch_series(record, field))

    def _draw_kind(self, record: RunRecord) -> None:
        if self.kind_panel is not None:
            self.kind_panel.show_record(record)

    def _draw_lr(self, record: RunRecord) -> None:
        self.curves["lr"].setData(record.steps, record.lr)
        if record.lr:  # from 0, so a constant rate reads as its value, not as a flat line around 0
            self.lr_plot.setYRange(0, max(record.lr) * 1.1, padding=0)

    def _draw_grad(self, record: RunRecord) -> None:
        self.curves["grad_norm"].setData(record.steps, record.grad_norm)
        for node_id, curve in self.layer_curves.items():
            column = record.layer_ids.index(node_id) if node_id in record.layer_ids else None
            curve.setData(record.steps, [row[column] for row in record.layer_norms] if column is not None else [])

    def _draw_heatmap(self, record: RunRecord) -> None:
        self.heatmap.update_from(record)

    def _draw_activations(self, record: RunRecord) -> None:
        self.activations.update_from(record)

    def _update_progress(self, record: RunRecord) -> None:
        total = max(record.total_steps, 1)
        self.progress.setRange(0, total)
        self.progress.setValue(min(record.step, total))
        rate = record.samples_per_s[-1] if record.samples_per_s else math.nan
        rate_text = f"{rate:,.0f} samples/s" if math.isfinite(rate) else "— samples/s"
        if record.paused:
            self.progress.setFormat(f"paused at step {record.step} / {record.total_steps} · "
                                    f"ETA {format_seconds(record.eta_seconds())} (frozen)")
            self.set_status(f"<b>Paused at step {record.step}</b> — Resume (F7) or Stop (Shift+F5).")
        elif record.active:
            self.progress.setFormat(f"step {record.step} / {record.total_steps} · {rate_text} · "
                                    f"ETA {format_seconds(record.eta_seconds())}")
            epoch = record.epochs[-1] if record.epochs else None
            last = f" · epoch {epoch['epoch']}: val loss {epoch['val_loss']:.4g}" if epoch and \
                epoch.get("val_loss") is not None else ""
            self.status.setText(f"Training {record.name} on {record.device or '…'} · {record.dataset}{last}")
        else:  # the run's mean, not its last step event's rate (engine/train/speed.py: both count training time)
            mean = record.mean_rate()
            self.progress.setFormat(f"{record.state} at step {record.step} · "
                                    + (f"mean {mean:,.0f} samples/s" if mean is not None else "— samples/s"))
            self.status.setText(f"<b>{record.state.capitalize()}</b>: {record.message}{bound_line(record)}")
            color = {"failed": "#e5484d", "stopped": "#e8a317"}.get(record.state)
            self.status.setStyleSheet(f"color: {color}" if color else "")

    def worst_layer(self) -> tuple[str, float] | None:
        """The layer with the largest (or smallest) latest gradient norm."""
        norms = {k: v for k, v in (self.record.latest_layer_norms() if self.record else {}).items()
                 if math.isfinite(v)}
        if not norms:
            return None
        pick = max if self.worst_mode.currentText() == "largest" else min
        node_id = pick(norms, key=norms.get)
        return node_id, norms[node_id]

    def _update_worst(self) -> None:
        worst = self.worst_layer()
        self.worst.setEnabled(worst is not None)
        self.worst.setText(f"Worst layer: {worst[0]} ({worst[1]:.2e}) — show" if worst else "Worst layer: —")

    def _worst_clicked(self) -> None:
        worst = self.worst_layer()
        if worst:
            self.node_requested.emit(worst[0])

    def set_status(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #e5484d" if error else "")


def bound_line(record: RunRecord) -> str:
    """ "<br>data-bound: the loader gives 1,480 samples/s, the step takes 3,100/s — raise data_workers": the run's
    data pipeline measured alone after it finished (the worker's `data_rate` artifact) against its throughput."""
    event, measured = latest(record, "data_rate"), record.mean_rate()
    if event is None or not measured:
        return ""
    bound, line = data_or_compute(event["data"]["samples_per_s"], measured, event["data"]["workers"])
    return f"<br><span style='color: {'#e8a317' if bound == 'data' else '#5fd068'}'>{line}</span>"
