"""A benchmark set's first download, seen from the training worker: `download` events before the run's
`started`, and Stop cancelling it with nothing left in the cache. The publisher is a local HTTP server
on 127.0.0.1 serving tiny gzipped IDX files whose MD5s are patched in (no test touches the network)."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from benchmark_writers import IDX_FILES, idx_bytes, mnist_arrays
from train_harness import of_type, small_graph

from engine.data.benchmarks import BENCHMARKS
from engine.data.download import DownloadStopped
from engine.fileformat import to_dict
from engine.train import events
from engine.train.download_events import DownloadEvents
from engine.train.events import read_events
from engine.train.worker import Worker


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no request lines in the test output
        pass


@pytest.fixture
def publisher(tmp_path, monkeypatch) -> dict[str, bytes]:
    """MNIST's four .gz files served from 127.0.0.1, the mnist spec pointed there with their MD5s, and the
    user data folder (the cache) under tmp_path. Returns the files served."""
    monkeypatch.setenv("LAYERLOOM_DATA_DIR", str(tmp_path / "user"))
    served = tmp_path / "web"
    served.mkdir()
    files = {f"{name}.gz": gzip.compress(idx_bytes(array)) for name, array in mnist_arrays().items()}
    for name, data in files.items():
        (served / name).write_bytes(data)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setitem(BENCHMARKS, "mnist", dataclasses.replace(
        BENCHMARKS["mnist"], url=f"http://127.0.0.1:{server.server_address[1]}/",
        md5={name: hashlib.md5(data).hexdigest() for name, data in files.items()}))
    yield files
    server.shutdown()
    server.server_close()


def train_command(run_dir: Path) -> dict:
    doc = small_graph("mnist_cnn", dataset={"name": "mnist"})
    return {"cmd": "train", "graph": to_dict(doc), "run_dir": str(run_dir), "epochs": 1, "device": "cpu"}


def cache(tmp_path: Path) -> list[str]:
    folder = tmp_path / "user" / "datasets" / "mnist"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_the_worker_forwards_a_first_download_as_events_before_the_run_starts(publisher, tmp_path):
    sent: list[dict] = []
    reply = Worker(sent.append)._train(train_command(tmp_path / "run"))
    assert reply["result"]["state"] == "finished"
    downloads = of_type(sent, "download")
    assert [d["file"] for d in downloads if d["done"] == 0] == [f"{name}.gz" for name in IDX_FILES]
    for name, data in publisher.items():  # every file from 0 to its whole size, the size known (Content-Length)
        mine = [(d["done"], d["total"]) for d in downloads if d["file"] == name]
        assert mine[0] == (0, len(data)) and mine[-1] == (len(data), len(data))
    kinds = [m["type"] for m in sent]
    assert kinds.index("started") > max(i for i, kind in enumerate(kinds) if kind == "download")
    assert cache(tmp_path) == sorted(publisher)  # whole, checked files; no temporary file
    assert "download" not in {e["type"] for e in read_events(tmp_path / "run" / "events.jsonl")}  # live only


def test_stop_during_the_download_ends_the_run_stopped_and_keeps_nothing(publisher, tmp_path):
    sent: list[dict] = []
    worker = Worker(sent.append)

    def out(message: dict) -> None:
        sent.append(message)
        if message["type"] == "download":
            worker.control.stop()  # as the stdin thread does when the app's dialog is cancelled

    worker.out = out
    reply = worker._train(train_command(tmp_path / "run"))
    assert reply["result"]["state"] == "stopped" and reply["result"]["reason"] == "request"
    assert len(of_type(sent, "download")) == 1 and not of_type(sent, "started")
    last = read_events(tmp_path / "run" / "events.jsonl")[-1]
    assert (last["state"], last["reason"]) == ("stopped", "request")
    assert last["message"].startswith("stopped while downloading train-images-idx3-ubyte.gz — nothing of it was kept")
    assert cache(tmp_path) == []  # not the file, not its temporary


def test_download_events_are_throttled_but_every_files_first_and_last_bytes_are_sent():
    now = [0.0]
    sent: list[dict] = []
    stopped = [False]
    progress = DownloadEvents(sent.append, lambda: stopped[0], events.Throttle(10, clock=lambda: now[0]))
    for done in range(0, 1001, 10):  # 101 chunks within 0.1 s, then the file's end
        progress("a.gz", done, 1000)
        now[0] += 0.001
    progress("b.gz", 0, None)  # a server that sends no length
    assert [(e["file"], e["done"]) for e in sent] == [("a.gz", 0), ("a.gz", 10), ("a.gz", 1000), ("b.gz", 0)]
    assert sent[-1]["total"] is None
    stopped[0] = True
    with pytest.raises(DownloadStopped, match="stopped while downloading b.gz"):
        progress("b.gz", 10, None)
