"""Language model: the text it wrote at each epoch end, and a prompt box to make it write more.

Generate sends a `generate` command to the worker (engine/tasks/language.py, the same code as
`layerloom generate`), which loads the run's best (else last) weights on the CPU; the GUI never
runs the model. While a run trains the worker is busy, so Generate waits for the run to end.
"""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from ..runs import RunRecord
from .base import KindPanel, KindView
from .widgets import latest

PROMPT_CHARS = 24  # the default prompt: the start of the newest generated text


def _text_box() -> QPlainTextEdit:
    box = QPlainTextEdit(readOnly=True)
    box.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    box.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
    return box


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
        controls = QHBoxLayout()  # under the prompt, which gets the panel's whole width
        for widget in (self.tokens, self.temperature, self.top_k):
            controls.addWidget(widget)
        controls.addStretch(1)
        controls.addWidget(self.generate)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.heading)
        layout.addWidget(self.epoch_text, 1)
        layout.addWidget(self.prompt)
        layout.addLayout(controls)
        layout.addWidget(self.output, 1)

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
        record = self.record
        ready = record is not None and bool(record.checkpoints) and not record.active
        self.generate.setEnabled(ready)
        self.generate.setToolTip("Write text with the run's best weights" if ready else
                                 "Available when the run has ended with a checkpoint (the worker is training)"
                                 if record is not None and record.active else "Train the model first")

    def _generate(self) -> None:
        if not self.generate.isEnabled():
            return
        self.generate.setEnabled(False)
        self.output.setPlainText("Writing…")
        self.request.emit({"cmd": "generate", "prompt": self.prompt.text(), "tokens": self.tokens.value(),
                           "temperature": self.temperature.value(), "top_k": self.top_k.value()})

    def reply(self, message: dict) -> None:
        if message.get("type") == "generated":
            self.output.setPlainText(message["prompt"] + message["text"])
        elif message.get("cmd") == "generate":
            self.output.setPlainText(f"Cannot generate: {message.get('message', '')}")
        self._update_button()


class LanguageView(KindView):
    name = "language_model"
    title = "Language model"
    metric_title = "Perplexity"
    metrics = (("perplexity", "validation"),)
    results_note = ("<i>A language model is judged by its text: the Live view shows what it wrote at each epoch, "
                    "and its prompt box writes more.</i>")

    def panel(self) -> KindPanel:
        return LanguagePanel()
