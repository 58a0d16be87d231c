"""The ``outbox`` channel: messages as JSON lines in a folder, one file per run.

Lines are appended to a hidden ``.outbox-<run_id>.jsonl.part`` as messages go, and the file
is renamed to ``outbox-<run_id>.jsonl`` when the run closes it, so a reader that globs
``outbox-*.jsonl`` never sees half a file. Each line carries its message's key.

A run killed while writing leaves its part file behind. The delivery ledger settles it
before the next delivery sends anything (``ledger.deliver``): it reads which keys the file
holds (``written_keys``: complete lines only), records those keys as sent, then publishes the
file (``publish``: its partial last line cut off). ``OutboxDelivery.recover()`` publishes
what is left in the folder. A part file whose writer still runs is never touched: the writer
holds an ``flock`` on it, which the kernel releases when the writer dies, however it dies.
"""

from __future__ import annotations

import bisect
import fcntl
import itertools
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

from ..errors import ChannelUnavailable
from .message import Message

OUTBOX_DIR = Path("data") / "outbox"


class OutboxDelivery:
    """Append messages as JSON lines to this run's outbox file; publish it on ``close()``.

    Creates nothing until the first ``send()`` (or ``target``), so a run with nothing to send
    leaves no file.
    """

    channel = "outbox"

    def __init__(self, folder: Path, run_id: str) -> None:
        self.folder = Path(folder)
        self.run_id = run_id
        self.path: Path | None = None        # the published file, once chosen
        self._part: Path | None = None
        self._file = None
        self._torn = False                   # a write failed: the last line may be partial

    @property
    def target(self) -> str:
        """The file the next message goes to (its published name): the ledger records it
        with its intent to send, so that a restart knows which file to check."""
        if self._file is None:
            self._open()
        return str(self.path)

    def recover(self) -> None:
        """Publish the complete lines of every part file that a killed run left here."""
        if self.folder.is_dir():
            for part in sorted(self.folder.glob(".outbox-*.jsonl.part")):
                _publish_part(part, self.folder)

    def send(self, message: Message) -> None:
        written, error = self.send_many([message])
        if error is not None:
            raise error

    def send_many(self, messages: Sequence[Message]) -> tuple[int, ChannelUnavailable | None]:
        """Append the messages' lines in one write: (how many were written whole, the error
        that stopped the rest, or None). The file is unbuffered, so a written line is in the
        kernel's hands, where a kill of this process cannot lose it, before the ledger says
        "sent"; a write cut short leaves a partial last line, cut off on close or recovery."""
        if self._file is None:
            self._open()
        lines = [self._line(message) for message in messages]
        data = memoryview(b"".join(lines))
        done = 0
        try:
            while done < len(data):
                done += self._file.write(data[done:])
        except OSError as exc:
            self._torn = True
            whole = bisect.bisect_right(list(itertools.accumulate(map(len, lines))), done)
            return whole, ChannelUnavailable(f"cannot write {self._part}: {exc}",
                                             key=messages[whole].key, channel=self.channel)
        return len(messages), None

    def _line(self, message: Message) -> bytes:
        # vars(), not asdict(): the fields are scalars, and asdict's deep copy was a third of
        # the outbox's time.
        record = {**vars(message), "channel": self.channel, "run_id": self.run_id}
        return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")

    def close(self) -> None:
        if self._file is None:
            return
        try:
            os.fsync(self._file.fileno())
            # Renamed while the lock is held, so no recovering process takes it meanwhile.
            if self._torn and not _keep_complete_lines(self._part):
                self._part.unlink()
            else:
                os.replace(self._part, self.path)
        finally:
            self._file.close()
            self._file = None

    def _open(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.path = _free_name(self.folder, f"outbox-{safe_name(self.run_id)}")
            self._part = _part_of(self.path)
            self._file = open(self._part, "ab", buffering=0)
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise ChannelUnavailable(f"cannot open the outbox in {self.folder}: {exc}",
                                     channel=self.channel) from exc


def written_keys(target: Path) -> set[str]:
    """The keys of the complete lines in outbox file ``target``: published, or still its
    part file. A partial last line (the writer was killed mid-line) does not count."""
    keys: set[str] = set()
    for path in (target, _part_of(target)):
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        for line in data[: data.rfind(b"\n") + 1].splitlines():
            try:
                keys.add(json.loads(line)["key"])
            except (ValueError, KeyError, TypeError):
                continue            # not a message line: nothing this outbox wrote
    return keys


def publish(target: Path) -> None:
    """Publish ``target``'s part file if a killed run left it (see ``written_keys``)."""
    part = _part_of(target)
    if part.exists():
        _publish_part(part, target.parent)


def _publish_part(part: Path, folder: Path) -> None:
    """Cut a dead writer's part file to its complete lines and rename it to its published
    name (a free one); remove it when no line is complete. A live writer's is left alone."""
    try:
        file = open(part, "r+b")
    except FileNotFoundError:
        return                                  # published by its writer meanwhile
    with file:
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return                              # its writer is alive
        try:
            if os.stat(part).st_ino != os.fstat(file.fileno()).st_ino:
                return                          # renamed and replaced before the lock
        except FileNotFoundError:
            return
        if _keep_complete_lines(part):
            os.replace(part, _free_name(folder, part.name[1:-len(".jsonl.part")], part))
        else:
            part.unlink()


def _keep_complete_lines(path: Path) -> bool:
    """Cut a partial last line off ``path``; return whether any complete line is left."""
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    if len(complete) != len(data):
        with open(path, "r+b") as file:
            file.truncate(len(complete))
            os.fsync(file.fileno())
    return bool(complete)


def _part_of(path: Path) -> Path:
    return path.parent / f".{path.name}.part"


def _free_name(folder: Path, stem: str, recovering: Path | None = None) -> Path:
    """``stem.jsonl``, or ``stem.2.jsonl``... if a run id was reused: never overwrite a file."""

    def taken(path: Path) -> bool:
        part = _part_of(path)
        return path.exists() or (part != recovering and part.exists())

    path, n = folder / f"{stem}.jsonl", 1
    while taken(path):
        n += 1
        path = folder / f"{stem}.{n}.jsonl"
    return path


def safe_name(text: str) -> str:
    """``text`` with anything but letters, digits, ``.``, ``_`` and ``-`` made ``_``: safe in
    a file name and in an e-mail's Message-ID."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)
