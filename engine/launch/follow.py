"""Following a run folder's event stream while another machine writes it (shared storage, NFS).

`EventTail(run_dir).read()` returns the events appended to events.jsonl since the last call:
complete lines only — a line still being written stays for the next call — so a reader polling a
file that rank 0 appends to never sees half an event. A line a kill tore (the writer starts a
fresh line after it, see events.EventLog) is skipped. When the file shrinks (the run folder was
replaced), reading starts again from its beginning. No Qt here: the app polls with a timer.
"""

from __future__ import annotations

import json
from pathlib import Path

EVENTS_FILE = "events.jsonl"
MAX_READ = 16 * 1024 * 1024  # bytes per call: a long run's history arrives over a few polls, not in one stall


class EventTail:
    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / EVENTS_FILE
        self.offset = 0  # bytes of the file already turned into events
        self.skipped = 0  # torn or unreadable lines passed over

    def read(self) -> list[dict]:
        """The complete events appended since the last call ([] when none, or no file yet)."""
        try:
            with open(self.path, "rb") as handle:
                size = handle.seek(0, 2)
                if size < self.offset:
                    self.offset = 0
                handle.seek(self.offset)
                chunk = handle.read(min(size - self.offset, MAX_READ))
        except (FileNotFoundError, NotADirectoryError):
            return []
        end = chunk.rfind(b"\n") + 1
        self.offset += end
        events = []
        for line in chunk[:end].splitlines():
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError:
                event = None
            if isinstance(event, dict) and isinstance(event.get("type"), str):
                events.append(event)
            else:
                self.skipped += 1
        return events
