"""Language model: the text it wrote at each epoch end, and a prompt box to make it write more.

Generate sends a `generate` command to the worker (engine/tasks/language.py, the same code as
`layerloom generate`), which loads the run's weights on the CPU; the GUI never runs the model. The
worker answers it even while the run trains (on a thread of its own), from the newest checkpoint —
`last`, saved at every epoch's end — and after the run from its best. Before the first checkpoint
there is nothing to write with, and Generate says so instead of waiting. Under the text, where the model's
last attention node looked over the prompt and what it wrote (attention_view.py), from the same answer.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ..runs import RunRecord
from .attention_view import PromptAttention
from .base import KindPanel, KindView
from .widgets import latest

PROMPT_CHARS = 24  # the default prompt: the start of the newest generated text


def _text_box() -> QPlainTextEdit:
    box = QPlainTextEdit(readOnly=True)
    box.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    box.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
    box.setMinimumHeight(2 * box.fontMetrics().lineSpacing() + 12)  # two lines: a short panel keeps the rest
    return box


def _column(widget: QWidget, *parts) -> None:
    """Lay `parts` (widgets or layouts, or (widget, stretch)) out top to bottom in `widget`, margins off."""
    layout = QVBoxLayout(widget)
    layout.setContentsMargins(0, 0, 0, 0)
    for part in parts:
        part, stretch = part if isinstance(part, tuple) else (part, 0)
        (layout.addLayout if isinstance(part, QHBoxLayout) else layout.addWidget)(part, stretch)


class LanguagePanel(KindPanel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.record: RunRecord | None = None
        self.heading = QLabel("<i>The model's text appears at the end of each epoch.</i>", wordWrap=True)
        self.epoch_text = _text_box()
        self.prompt = QLineEdit(placeholderText="a prompt (characters of the training text)")
        self.tokens = QSpinBox(minimum=1, maximum=2000, value=200, suffix=" chars")
        self.temperature = QDoubleSpinBox(minimum=0.0, maximum=5.0, value=0.8, singleStep=0.1, prefix="T ")
        self.temperature.setToolTip("Sampling temperature: 0 always takes the likeliest character")
        self.top_k = QSpinBox(minimum=0, maximum=1000, value=10, prefix="top-k ")
        self.top_k.setToolTip("Sample among the k likeliest characters (0: all)")
        self.generate = QPushButton("Generate", clicked=self._generate)
        self.prompt.returnPressed.connect(self._generate)
        self.output = _text_box()
        self.output.setPlaceholderText("Press Generate to continue the prompt with the trained model.")
        self.note = QLabel(wordWrap=True)  # which weights wrote the text, or why there are none yet
        self.attention = PromptAttention()
        self.waiting = False  # a generate request is out: the button stays off until its answer
        controls = QHBoxLayout()  # under the prompt, which gets the panel's whole width
        for widget in (self.tokens, self.temperature, self.top_k):
            controls.addWidget(widget)
        controls.addStretch(1)
        controls.addWidget(self.generate)
        epochs, written = QWidget(), QWidget()  # the epochs' text, the prompt and its answer, its attention
        _column(epochs, self.heading, (self.epoch_text, 1))
        _column(written, self.prompt, controls, (self.output, 1), self.note)
        self.split = QSplitter(Qt.Orientation.Vertical, childrenCollapsible=False)  # the user shares the height
        for pane, share in ((epochs, 1), (written, 2), (self.attention, 2)):
            self.split.addWidget(pane)
            self.split.setStretchFactor(self.split.count() - 1, share)
        _column(self, self.split)
        self._update_button()

    def show_record(self, record: RunRecord) -> None:
        self.record = record
        event = latest(record, "generated")
        if event is not None:
            self.heading.setText(f"<b>Generated after epoch {event['epoch']}</b> (temperature 0.8, top-10, after a "
                                 f"validation window)")
            if self.epoch_text.toPlainText() != event["text"]:
                self.epoch_text.setPlainText(event["text"])
            if not self.prompt.text():
                self.prompt.setText(event["text"][:PROMPT_CHARS])
        self._update_button()

    def _update_button(self) -> None:
        """Generate is on whenever a run is on screen (off while an answer is awaited): pressed before the run
        has a checkpoint, it says why it cannot write yet."""
        record = self.record
        self.generate.setEnabled(record is not None and not self.waiting)
        self.generate.setToolTip(
            "Train the model first" if record is None else self._no_weights(record) or (
                "Write text with the newest checkpoint (saved at each epoch's end) while the run trains"
                if record.active else "Write text with the run's best weights"))

    @staticmethod
    def _no_weights(record: RunRecord) -> str | None:
        """Why the run has no weights to write with, or None when it has some."""
        if record.checkpoints:
            return None
        if record.active:
            return "No checkpoint yet — wait for the first epoch to end: its weights are saved then."
        return "This run saved no checkpoint (it ended before its first epoch did): there are no weights to write with."

    def _generate(self) -> None:
        if not self.generate.isEnabled() or self.record is None:
            return
        if reason := self._no_weights(self.record):
            self.output.setPlainText(reason)
            self.note.clear()
            return
        self.waiting = True
        self.generate.setEnabled(False)
        self.output.setPlainText("Writing…")
        self.note.clear()
        self.attention.clear()
        command = {"cmd": "generate", "prompt": self.prompt.text(), "tokens": self.tokens.value(),
                   "temperature": self.temperature.value(), "top_k": self.top_k.value()}
        self.request.emit({**command, "checkpoint": "last"} if self.record.active else command)

    def reply(self, message: dict) -> None:
        if message.get("cmd") != "generate":
            return
        self.waiting = False
        if message.get("type") == "generated":
            self.output.setPlainText(message["prompt"] + message["text"])
            weights = message.get("weights") or {}
            epoch = f" of epoch {weights['epoch']}" if weights.get("epoch") is not None else ""
            self.note.setText(f"<i>Written with the {weights['tag']} checkpoint{epoch}.</i>"
                              if weights.get("tag") else "")
            if "attention" in message:
                self.attention.show_attention(message["attention"])
                self._make_room()
        else:
            self.output.setPlainText(f"Cannot generate: {message.get('message', '')}")
        self._update_button()

    def _make_room(self) -> None:
        """Give the attention pane the height its chips want, taken from the epochs' text, then from the answer's,
        down to their minimum (the user's splitter drags decide after that)."""
        sizes = self.split.sizes()
        if not sum(sizes):  # never shown yet: the splitter shares out the height when it is
            return
        want = self.attention.wanted_height() - sizes[2]
        for pane in (0, 1):
            give = min(want, sizes[pane] - self.split.widget(pane).minimumSizeHint().height())
            if give > 0:
                sizes[pane], sizes[2], want = sizes[pane] - give, sizes[2] + give, want - give
        self.split.setSizes(sizes)


class LanguageView(KindView):
    name = "language_model"
    title = "Language model"
    metric_title = "Perplexity"
    metrics = (("perplexity", "validation"),)
    results_note = ("<i>A language model is judged by its text: the Live view shows what it wrote at each epoch, "
                    "and its prompt box writes more.</i>")

    def panel(self) -> KindPanel:
        return LanguagePanel()
