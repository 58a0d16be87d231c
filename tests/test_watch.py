"""The landing watcher: each complete file reported once, at once when its writer says it is
done (a rename into place, a close after writing), after it stopped changing otherwise; files
already loaded are never reported again, so a restarted ``serve`` triggers nothing."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from conftest import make_project

from workbench.config import load_config
from workbench.service.batches import ArrivalBatches
from workbench.service.loop import loaded_files
from workbench.watch import Arrival, LandingWatcher

SLOW = 120.0    # a listing interval no test waits for: only an event can report in time


def _wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f}s")
        time.sleep(0.05)


def _landing(tmp_path):
    root = make_project(tmp_path / "project", data=False)
    landing = root / "data" / "landing"
    for name in ("events", "users"):
        (landing / name).mkdir(parents=True)
    return root, landing


def test_watcher_reports_each_complete_file_once(tmp_path):
    root, landing = _landing(tmp_path)
    arrivals = []
    watcher = LandingWatcher(load_config(root), arrivals.append, interval=0.05,
                             known={("users", "users/old.csv"): (3, 0)}, events=False)
    old = landing / "users" / "old.csv"
    old.write_text("a\n1")
    os.utime(old, ns=(0, 0))
    (landing / "events" / ".hidden.parquet").write_bytes(b"x")
    (landing / "events" / "2026-11.parquet.part").write_bytes(b"x")
    growing = landing / "events" / "2026-11.parquet"
    growing.write_bytes(b"x")

    watcher.poll()
    growing.write_bytes(b"xx")          # still being written
    watcher.poll()
    watcher.poll()
    assert arrivals == []               # not yet unchanged for two polls
    watcher.poll()
    assert [(a.source, a.relative, a.size) for a in arrivals] == [
        ("events", "events/2026-11.parquet", 2)]
    for _ in range(3):
        watcher.poll()
    assert len(arrivals) == 1           # once per (path, size, mtime)

    growing.write_bytes(b"xxx")         # changed later: reported again
    for _ in range(3):
        watcher.poll()
    assert [a.size for a in arrivals] == [2, 3]

    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop,))
    thread.start()
    (landing / "users" / "new.csv").write_text("a\n1\n")
    _wait_for(lambda: len(arrivals) == 3, 10, "polling watcher missed a file")
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
    assert arrivals[-1].relative == "users/new.csv"


def test_a_file_renamed_into_place_or_closed_is_reported_at_once(tmp_path):
    root, landing = _landing(tmp_path)
    arrivals = []
    watcher = LandingWatcher(load_config(root), arrivals.append, interval=SLOW,
                             safety_interval=SLOW).start()
    try:
        _wait_for(lambda: watcher.using_events, 30, "no file-system events")
        partial = landing / "events" / "2026-12.parquet.part"
        partial.write_bytes(b"x" * 10)
        assert arrivals == []
        partial.rename(landing / "events" / "2026-12.parquet")
        _wait_for(lambda: len(arrivals) == 1, 30, "a rename into place not reported")
        (landing / "users" / "2026-12.csv").write_text("a\n1\n")   # open, write, close
        _wait_for(lambda: len(arrivals) == 2, 30, "a closed file not reported")
    finally:
        watcher.stop()
    assert [(a.relative, a.size) for a in arrivals] == [
        ("events/2026-12.parquet", 10), ("users/2026-12.csv", 4)]


def test_a_file_kept_open_by_its_writer_waits_until_it_stops_changing(tmp_path):
    root, landing = _landing(tmp_path)
    arrivals = []
    watcher = LandingWatcher(load_config(root), arrivals.append, interval=0.3,
                             safety_interval=SLOW).start()
    try:
        _wait_for(lambda: watcher.using_events, 30, "no file-system events")
        with (landing / "users" / "2026-12.csv").open("w") as writer:
            writer.write("a\n")
            writer.flush()
            for row in range(4):        # still open: the stability rule decides
                time.sleep(0.2)
                writer.write(f"{row}\n")
                writer.flush()
            assert arrivals == []
        _wait_for(lambda: arrivals, 30, "the file was not reported once closed")
    finally:
        watcher.stop()
    assert [(a.relative, a.size) for a in arrivals] == [("users/2026-12.csv", 10)]


def test_a_restart_on_a_built_project_announces_nothing(built_project):
    config = load_config(built_project)
    known = loaded_files(config)
    files = {(s.name, p.relative_to(config.landing).as_posix())
             for s in config.sources for p in config.landing.glob(s.path)}
    assert files and files <= set(known)
    arrivals = []
    watcher = LandingWatcher(config, arrivals.append, interval=0.05, known=known)
    for _ in range(4):
        watcher.poll()
    assert arrivals == []


def _arrival(source: str, name: str) -> Arrival:
    return Arrival(source, Path("/landing") / source / name, f"{source}/{name}", 1, 0)


def test_arrivals_of_one_source_close_together_become_one_batch():
    batches = []
    merged = ArrivalBatches(lambda source, arrivals: batches.append(
        (source, [a.relative for a in arrivals])), debounce=0.5)
    try:
        for name in ("a.csv", "b.csv", "c.csv"):
            merged.add(_arrival("users", name))
        merged.add(_arrival("events", "x.parquet"))
        _wait_for(lambda: len(batches) == 2 and merged.idle(), 30, "two batches")
        merged.add(_arrival("users", "d.csv"))      # after the batch: a batch of its own
        _wait_for(lambda: len(batches) == 3 and merged.idle(), 30, "a third batch")
    finally:
        merged.stop()
    assert sorted(batches[:2]) == [("events", ["events/x.parquet"]),
                                   ("users", ["users/a.csv", "users/b.csv", "users/c.csv"])]
    assert batches[2] == ("users", ["users/d.csv"])


def test_a_slow_sources_batch_never_holds_up_another_source():
    release, handled = threading.Event(), []

    def handle(source: str, arrivals: list[Arrival]) -> None:
        if source == "invoices":
            release.wait(60)
        handled.append((source, len(arrivals)))

    merged = ArrivalBatches(handle, debounce=0.05)
    try:
        merged.add(_arrival("invoices", "late.csv"))
        time.sleep(0.2)                             # invoices' batch is being handled
        merged.add(_arrival("invoices", "later.csv"))
        merged.add(_arrival("events", "x.parquet"))
        _wait_for(lambda: handled == [("events", 1)], 30, "events waited for invoices")
        release.set()
        _wait_for(lambda: merged.idle() and len(handled) == 3, 30, "invoices' batches")
    finally:
        release.set()
        merged.stop()
    # one at a time per source: what landed during the slow batch is the next batch
    assert handled[1:] == [("invoices", 1), ("invoices", 1)]
