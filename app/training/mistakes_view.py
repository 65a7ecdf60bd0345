"""The Results panel's list of a classifier's mistakes: a table's as rows of its file with their raw cells
("row 23 — true yes, predicted no (81%): customer_id C-0042 · contract month-to-month · …"), other data's as
validation sample positions. All of them under the matrix; a click on a cell lists that cell's (the worker's
`mistakes`: engine/train/mistakes.py, at most MAX_MISTAKES per cell)."""

from __future__ import annotations

from html import escape

from engine.data.tables import is_missing

MAX_SHOWN = 25  # lines listed; the heading says how many more there are


def mistakes_html(evaluation: dict, cell: tuple[int, int] | None = None) -> str:
    """The mistakes of `evaluation` (all, or those of confusion cell (true, predicted)) as lines of HTML."""
    mistakes, names = evaluation.get("mistakes"), evaluation["class_names"]
    if mistakes is None:
        return ""
    name = (lambda c: escape(names[c] if c < len(names) else str(c)))
    if cell is None:
        chosen = mistakes
        heading = (f"<b>Mistakes</b>: {len(mistakes)} listed — click a cell of the matrix for its own"
                   if mistakes else "<b>No mistakes</b> on the validation split")
    else:
        true, predicted = cell
        count = evaluation["confusion"][true][predicted]
        what = f"True <b>{name(true)}</b>, predicted <b>{name(predicted)}</b>: {count} sample{'s' * (count != 1)}"
        if true == predicted:
            return f"{what}, classified right (only mistakes are listed)"
        chosen = [m for m in mistakes if (m["true"], m["predicted"]) == cell]
        heading = what + (f", {len(chosen)} listed" if len(chosen) < count else "")
    lines = [_line(m, name) for m in chosen[:MAX_SHOWN]]
    more = [f"… and {len(chosen) - MAX_SHOWN} more"] if len(chosen) > MAX_SHOWN else []
    return "<br>".join([heading, *lines, *more])


def _line(mistake: dict, name) -> str:
    verdict = f"true {name(mistake['true'])}, predicted {name(mistake['predicted'])} ({mistake['confidence']:.0%})"
    return source_line(mistake, verdict)


def source_line(sample: dict, verdict: str = "") -> str:
    """A validation sample as its source names it, in HTML: a table's "row 23 — <verdict>: customer_id <b>C-0042</b>
    · …" (its raw cells), an image folder's "cat/007.png — <verdict>", else "validation sample #5 — <verdict>". The
    sample is a mistake (engine/train/mistakes.py) or one the worker's `samples` sent, both with `SourceRows.row`'s
    "row" and "cells" where the source knows them."""
    where = escape(sample["row"]) if "row" in sample else f"validation sample #{sample['index']}"
    cells = " · ".join(f"{escape(column)} <b>{'(empty)' if is_missing(value) else escape(value)}</b>"
                       for column, value in (sample.get("cells") or {}).items())
    return f"{where}{' — ' + verdict if verdict else ''}{': ' + cells if cells else ''}"
