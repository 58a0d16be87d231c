"""The ``outbox`` channel: messages as JSON lines in a folder, one file per run.

Lines are appended to a hidden ``.outbox-<run_id>.jsonl.part`` as messages go, and the file
is renamed to ``outbox-<run_id>.jsonl`` when the run closes it, so a reader that globs
``outbox-*.jsonl`` never sees half a file. A part file left by a run that crashed is
completed (its last, unfinished line dropped) and renamed by the next run.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict
from pathlib import Path

from ..errors import ChannelUnavailable
from .message import Message

OUTBOX_DIR = Path("data") / "outbox"


class OutboxDelivery:
    """Append messages as JSON lines to this run's outbox file; publish it on ``close()``.

    Creates nothing until the first ``send()``, so a run with nothing to send leaves no file.
    """

    channel = "outbox"

    def __init__(self, folder: Path, run_id: str) -> None:
        self.folder = Path(folder)
        self.run_id = run_id
        self.path: Path | None = None        # the published file, once chosen
        self._part: Path | None = None
        self._file = None
        self._torn = False                   # a write failed: the last line may be partial

    def send(self, message: Message) -> None:
        if self._file is None:
            self._open()
        line = json.dumps({**asdict(message), "channel": self.channel, "run_id": self.run_id},
                          ensure_ascii=False)
        try:
            self._file.write(line + "\n")
            # Flushed per message: the ledger says "sent" right after this returns, and a
            # crash must not leave a message the ledger counts as sent only in our buffer.
            self._file.flush()
        except OSError as exc:
            self._torn = True
            raise ChannelUnavailable(f"cannot write {self._part}: {exc}", key=message.key,
                                     channel=self.channel) from exc

    def close(self) -> None:
        if self._file is None:
            return
        try:
            os.fsync(self._file.fileno())
        finally:
            self._file.close()
            self._file = None
        if self._torn and not _keep_complete_lines(self._part):
            self._part.unlink()
            return
        os.replace(self._part, self.path)

    def _open(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            _recover_parts(self.folder)
            self.path = _free_name(self.folder, f"outbox-{safe_name(self.run_id)}")
            self._part = self.folder / f".{self.path.name}.part"
            self._file = open(self._part, "a", encoding="utf-8")
        except OSError as exc:
            raise ChannelUnavailable(f"cannot open the outbox in {self.folder}: {exc}",
                                     channel=self.channel) from exc


def _recover_parts(folder: Path) -> None:
    """Publish what a crashed run appended: every complete line of each leftover part file."""
    for part in sorted(folder.glob(".outbox-*.jsonl.part")):
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


def _free_name(folder: Path, stem: str, recovering: Path | None = None) -> Path:
    """``stem.jsonl``, or ``stem.2.jsonl``... if a run id was reused: never overwrite a file."""

    def taken(path: Path) -> bool:
        part = folder / f".{path.name}.part"
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
