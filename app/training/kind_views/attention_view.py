"""Why this text: the tokens of a generate answer, shaded by where the model's last attention node looked.

The worker's `generate` reply carries `attention` (engine/inspect/prompt_attention.py): the labels of a window
of tokens — the prompt's last ones, then the first written ones — and the weights (heads × T × T) of the last
attention node over them. One token is the query, outlined (at first the prompt's last, the one that chose the
first written token; a click or the arrow keys choose another); every token is drawn as a chip shaded by how much
of the query's attention it got, with the percentage under it — the mean over the heads, or one head picked in the
box. Written tokens have a dashed border; tokens after a causal query got nothing and are drawn faint.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontDatabase, QFontMetrics, QPainter, QPalette, QPen
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QScrollArea, QSizePolicy, QToolTip, QVBoxLayout, QWidget

SHOWN = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"}  # whitespace drawn visibly
PAD, GAP, MIN_CHIP = 4, 3, 18  # px
NO_ATTENTION = ("No attention node in this graph (it has no MultiheadAttention or TransformerBlock): there is no "
                "attention to show.")
PLACEHOLDER = "Generate to see where the model's last attention node looks over the prompt."


def visible(token: str) -> str:
    """A token's label with its whitespace drawn (a space as ␣, a newline as ↵), never empty."""
    return "".join(SHOWN.get(ch, ch) for ch in token) or "∅"


def quoted(token: str) -> str:
    return f"‘{visible(token)}’"


def place(i: int, prompt: int) -> str:
    """Which token i is, for a person: the prompt's, or one the model wrote."""
    return f"prompt token {i + 1}" if i < prompt else f"written token {i - prompt + 1}"


class TokenChips(QWidget):
    """The tokens as chips wrapped to the width, each shaded by its weight; a click chooses the query."""

    chosen = Signal(int)  # the token clicked

    def __init__(self, parent=None):
        super().__init__(parent)
        self.labels: list[str] = []
        self.prompt = 0  # how many of the tokens are the prompt's
        self.weights: list[float] = []  # the query's weight on each token
        self.query = -1
        self.font_ = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.small = QFont(self.font())
        self.small.setPointSizeF(max(6.0, self.small.pointSizeF() * 0.75))
        policy = QSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)

    def set_tokens(self, labels: list[str], prompt: int) -> None:
        self.labels, self.prompt = [visible(t) for t in labels], prompt
        self.updateGeometry()
        self.update()

    def set_weights(self, weights: list[float], query: int) -> None:
        self.weights, self.query = weights, query
        self.update()

    # -- geometry ---------------------------------------------------------------------------------
    def _chip_size(self, label: str) -> QSize:
        big, small = QFontMetrics(self.font_), QFontMetrics(self.small)
        width = max(big.horizontalAdvance(label), small.horizontalAdvance("100"), MIN_CHIP) + 2 * PAD
        return QSize(width, big.height() + small.height() + 2 * PAD)

    def row_height(self) -> int:
        return self._chip_size("x").height() + 2 * GAP

    def chip_rects(self, width: int | None = None) -> list[QRect]:
        """Where each chip is drawn, left to right and wrapped at `width` (default: the widget's)."""
        width = self.width() if width is None else width
        rects, x, y, row = [], GAP, GAP, 0
        for label in self.labels:
            size = self._chip_size(label)
            if x > GAP and x + size.width() > width - GAP:
                x, y = GAP, y + row + GAP
            rects.append(QRect(x, y, size.width(), size.height()))
            x, row = x + size.width() + GAP, size.height()
        return rects

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        rects = self.chip_rects(width)
        return rects[-1].bottom() + 1 + GAP if rects else 0

    def sizeHint(self) -> QSize:
        return QSize(320, self.heightForWidth(320))

    def minimumSizeHint(self) -> QSize:
        return QSize(MIN_CHIP + 2 * (PAD + GAP), 0)

    def chip_at(self, pos) -> int | None:
        return next((i for i, rect in enumerate(self.chip_rects()) if rect.contains(pos)), None)

    # -- what it says -----------------------------------------------------------------------------
    def tip(self, i: int) -> str:
        where = place(i, self.prompt)
        weight = self.weights[i] if i < len(self.weights) else 0.0
        if i == self.query:
            return f"{self.labels[i]} ({where}): the token looking (the outlined one) — {100 * weight:.1f}% on itself"
        return f"{self.labels[i]} ({where}): {100 * weight:.1f}% of {self.labels[self.query]}'s attention"

    def event(self, event) -> bool:
        if event.type() == event.Type.ToolTip:
            i = self.chip_at(event.pos())
            if i is None:
                QToolTip.hideText()
            else:
                QToolTip.showText(event.globalPos(), self.tip(i), self)
            return True
        return super().event(event)

    def mousePressEvent(self, event) -> None:
        i = self.chip_at(event.position().toPoint())
        if i is not None:
            self.chosen.emit(i)

    def keyPressEvent(self, event) -> None:
        step = {Qt.Key.Key_Left: -1, Qt.Key.Key_Right: 1}.get(event.key())
        if step is None or not self.labels:
            super().keyPressEvent(event)
            return
        self.chosen.emit(min(max(self.query + step, 0), len(self.labels) - 1))

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = self.palette()
        base, accent = palette.color(QPalette.ColorRole.Base), palette.color(QPalette.ColorRole.Highlight)
        text, faint = palette.color(QPalette.ColorRole.Text), palette.color(QPalette.ColorRole.PlaceholderText)
        top = max(self.weights, default=0.0) or 1.0  # shaded against the strongest, so weak rows still read
        big_height = QFontMetrics(self.font_).height()
        for i, rect in enumerate(self.chip_rects()):
            weight = self.weights[i] if i < len(self.weights) else 0.0
            share = weight / top
            fill = QColor.fromRgbF(*(b + (a - b) * share for a, b in zip(accent.getRgbF()[:3], base.getRgbF()[:3],
                                                                          strict=True)))
            border = QPen(text if i == self.query else palette.color(QPalette.ColorRole.Mid),  # the query outlined
                          2.5 if i == self.query else 1.0)
            border.setStyle(Qt.PenStyle.SolidLine if i < self.prompt else Qt.PenStyle.DashLine)
            painter.setPen(border)
            painter.setBrush(fill)
            painter.drawRoundedRect(rect.adjusted(1, 1, -1, -1), 3, 3)
            seen = weight > 0 or i == self.query
            colour = palette.color(QPalette.ColorRole.HighlightedText) if share > 0.55 else text if seen else faint
            painter.setPen(colour)
            painter.setFont(self.font_)
            painter.drawText(QRect(rect.x(), rect.y() + PAD, rect.width(), big_height), Qt.AlignmentFlag.AlignCenter,
                             self.labels[i])
            painter.setFont(self.small)
            number = f"{100 * weight:.0f}" if seen else ""
            painter.drawText(QRect(rect.x(), rect.y() + PAD + big_height, rect.width(),
                                   rect.height() - PAD * 2 - big_height), Qt.AlignmentFlag.AlignCenter, number)


class PromptAttention(QWidget):
    """The `attention` of a generate reply: a heading, a head selector, the token chips and what was left out."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.data: dict | None = None
        self.query = -1
        self.heading = QLabel(f"<i>{PLACEHOLDER}</i>", wordWrap=True)
        self.heads = QComboBox()
        self.heads.setToolTip("The mean of the node's heads, or one head")
        self.heads.currentIndexChanged.connect(self._redraw)
        self.chips = TokenChips()
        self.chips.chosen.connect(self.choose)
        self.note = QLabel(wordWrap=True)  # what the window leaves out, and how to choose another token
        body = QWidget()  # the chips and their note scroll together when the panel is short
        column = QVBoxLayout(body)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.chips)
        column.addWidget(self.note)
        column.addStretch(1)
        self.scroll = QScrollArea(widgetResizable=True, frameShape=QScrollArea.Shape.NoFrame)
        self.scroll.setWidget(body)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setMinimumHeight(self.chips.row_height())  # a row of chips at least: never squeezed away
        top = QHBoxLayout()
        top.addWidget(self.heading, 1)
        top.addWidget(self.heads, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.scroll, 1)
        layout.addStretch(0)  # takes the room while the chips are hidden: the heading stays on top
        self.clear()

    def clear(self, text: str = PLACEHOLDER) -> None:
        self.data, self.query = None, -1
        self.heading.setText(f"<i>{text}</i>")
        self.heads.hide()
        self.scroll.hide()
        self.note.clear()

    def show_attention(self, data: dict | None) -> None:
        """Show a generate reply's `attention`; None: the graph has no attention node."""
        if data is None:
            self.clear(NO_ATTENTION)
            return
        self.data = data
        count = len(data["weights"])
        self.heads.blockSignals(True)
        self.heads.clear()
        self.heads.addItems([f"mean of {count} heads" if count > 1 else "1 head"]
                            + ([f"head {h + 1}" for h in range(count)] if count > 1 else []))
        self.heads.blockSignals(False)
        self.heads.setVisible(count > 1)
        self.scroll.show()
        self.chips.set_tokens(data["tokens"], data["prompt"])
        self.note.setText(self._left_out(data))
        self.choose(max(data["prompt"] - 1, 0))

    def wanted_height(self) -> int:
        """The height that shows the heading, every chip and the note at the present width."""
        width = self.width()
        spacing = self.layout().spacing()
        return (max(self.heading.heightForWidth(max(width - self.heads.sizeHint().width() - spacing, 1)),
                    self.heads.sizeHint().height()) + spacing + self.chips.heightForWidth(width) + spacing
                + max(self.note.heightForWidth(width), 0) + spacing)

    def choose(self, query: int) -> None:
        """Make token `query` the one whose attention is shown."""
        if self.data is None or not 0 <= query < len(self.data["tokens"]):
            return
        self.query = query
        self._redraw()

    def row(self) -> list[float]:
        """The query's weights on every token: the chosen head's, or the mean of the heads."""
        heads = self.data["weights"]
        chosen = self.heads.currentIndex()
        rows = [heads[chosen - 1][self.query]] if chosen > 0 else [head[self.query] for head in heads]
        return [sum(column) / len(rows) for column in zip(*rows, strict=True)]

    def _redraw(self) -> None:
        if self.data is None or self.query < 0:
            return
        tokens, query = self.data["tokens"], self.query
        wrote = f", when it chose {quoted(tokens[query + 1])}" if query + 1 < len(tokens) else ""
        which = "the prompt's last token" if query == self.data["prompt"] - 1 else place(query, self.data["prompt"])
        self.heading.setText(f"Where <b>{quoted(tokens[query])}</b> ({which}) looked{wrote}, in "
                             f"<b>{self.data['node']}</b> (the last attention node)")
        self.chips.set_weights(self.row(), query)
        rect = self.chips.chip_rects()[query] if self.chips.width() > 0 else None
        if rect is not None:  # the query's chip in view, when the chips scroll
            self.scroll.ensureVisible(rect.center().x(), rect.center().y(), 0, rect.height() // 2 + GAP)

    @staticmethod
    def _left_out(data: dict) -> str:
        prompt, skipped, cap = data["prompt"], data["skipped"], data["cap"]
        written = len(data["tokens"]) - prompt
        why = f"the model reads {cap} at a time" if cap >= data.get("context", 0) else f"the view shows {cap}"
        shown = f"The prompt's {prompt} tokens" if not skipped else (
            f"The prompt's last {prompt} of {prompt + skipped} tokens ({why})")
        after = f", then the first {written} written (dashed)" if written else ""
        return (f"<i>{shown}{after}; the numbers are percent of the attention. Click a token (or press ← →) to "
                f"see where it looked.</i>")
