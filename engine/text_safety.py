"""User text in places that interpret it: a terminal, a Markdown file, a line of a generated script.

Names, labels, descriptions and paths come from the user or from files anyone may have written.
Printed raw, an escape sequence (ESC …) rewrites the terminal and a newline forges a line of output;
written raw into Markdown, `<script>`, a heading or an unclosed ``` fence changes the document around
it. These helpers make such text inert for each destination:

    terminal_text     control characters shown as escapes (\\n, \\x1b, \\u202e): one visible line
    control_in        the first control character of a text, for refusing it with a clear error
    markdown_text     text that renders as itself in Markdown: HTML and block/inline syntax escaped
    markdown_code     an inline code span, for text that cannot close it (else markdown_text)
    markdown_fence    a fenced code block that no text inside it can close

"Control characters" are the C0 and C1 controls (newline, CR, tab, ESC, CSI, DEL…), the Unicode line
and paragraph separators, and the bidirectional overrides that reorder how a line reads. Nothing
here imports torch or Qt.
"""

from __future__ import annotations

import re
import unicodedata

_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def is_control(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in _BIDI


def control_in(text: str) -> str | None:
    """The first control character in `text` as an escape (e.g. "\\n", "\\x1b"), or None when there is none."""
    for ch in text:
        if is_control(ch):
            return _escape(ch)
    return None


def terminal_text(text: object) -> str:
    """`text` as one line a terminal shows as it is: every control character replaced by its escape."""
    return "".join(_escape(ch) if is_control(ch) else ch for ch in str(text))


class TerminalStream:
    """A text stream for a terminal that shows every control character other than newline, tab and carriage
    return (which progress bars need) as its escape: whatever a command prints — a generated text, a file's
    class names, a message quoting a path — cannot move the cursor, retitle the window or reorder a line."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(_TERMINAL_UNSAFE.sub(lambda match: _escape(match.group()), text))
        return len(text)

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


# `is_control`'s characters but newline, tab and carriage return, as one pattern (a command may print hundreds
# of thousands of lines; a Python loop over every character cost a third of predict's time): the Cc category is
# exactly U+0000–001F and U+007F–009F, Zl and Zp are U+2028 and U+2029, then the bidirectional controls.
_TERMINAL_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029" + "".join(sorted(_BIDI)) + "]")


def _escape(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


# -- Markdown -------------------------------------------------------------------------------------
# Entities for what HTML or a table would read (an entity is always literal text, never markup), a
# backslash for Markdown's inline syntax: emphasis, code spans, links and images, headings, escapes.
_MD_ENTITY = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "&#124;", "~": "&#126;"}
_MD_BACKSLASH = frozenset("\\`*_[]#!")
# What opens a block at the start of a line — a list item (- + 1. 1)) or a setext underline (=== ---) —
# becomes an entity there (`*` and `#` are escaped wherever they are).
_LINE_START = re.compile(r"([-+=])|(\d{1,9})([.)])")


def markdown_text(text: object, *, multiline: bool = False) -> str:
    """`text` as Markdown that renders as exactly that text, so it can never change the document's
    structure: no HTML, heading, list, quote, fence, code block, table cell, link or emphasis of its own.

    Without `multiline` the text becomes one line (line breaks and other control characters become
    spaces). With it, lines are kept — each escaped alone, its indentation dropped (four spaces would
    open a code block) — so a description keeps its paragraphs.
    """
    lines = str(text).replace("\r\n", "\n").split("\n") if multiline else [str(text)]
    return "\n".join(_markdown_line(line) for line in lines)


def _markdown_line(line: str) -> str:
    line = "".join(" " if is_control(ch) else ch for ch in line).strip()
    out = []
    start = _LINE_START.match(line)
    if start:  # "- item" → "&#45; item", "1. item" → "1&#46; item"
        out.append(f"&#{ord(start.group(1))};" if start.group(1) else f"{start.group(2)}&#{ord(start.group(3))};")
        line = line[start.end():]
    for ch in line:
        out.append(_MD_ENTITY.get(ch) or ("\\" + ch if ch in _MD_BACKSLASH else ch))
    return "".join(out)


def markdown_code(text: object) -> str:
    """`text` as an inline code span. A text that could end the span or read as HTML or a table cell (one
    holding a backtick, < > &, |) or that holds a control character is written as `markdown_text` instead:
    then no raw HTML stands even in the Markdown source, and no line can start with a fence."""
    text = str(text)
    if not text.strip() or any(ch in "`<>&|" or is_control(ch) for ch in text):
        return markdown_text(text)
    return f"`{text}`"


def markdown_fence(text: str, info: str = "") -> list[str]:
    """A fenced code block holding `text` verbatim, as lines: its fence is longer than any run of
    backticks in the text, so no line inside can close it (nor can an unclosed fence inside leak out)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence + info, *text.replace("\r\n", "\n").split("\n"), fence]
