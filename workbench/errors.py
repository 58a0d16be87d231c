"""The workbench's exceptions: one family, each carrying the facts as attributes.

    WorkbenchError             root of every error raised on purpose
     ├── ConfigError           bad or missing workbench.toml, dbt project or data folder
     ├── SourceError           a landing file that cannot be loaded (names file and row)
     ├── TableNotFoundError    unknown or malformed table name (lists close matches)
     ├── WarehouseBusyError    another process holds the warehouse for writing too long
     ├── RunFailed             raised by RunResult.raise_for_failures()
     ├── ServiceError          workbench serve could not start its Prefect server, emit an
                               event, or answer a stale source (names server log / source)
     └── ClassifierError       a message the classifier could not label (names the message
                               and endpoint; in workbench.community.classify, next to its use)

Every error pickles cleanly (``__reduce__``), so it survives Prefect task boundaries and
subprocesses with its attributes intact.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "WorkbenchError",
    "ConfigError",
    "SourceError",
    "TableNotFoundError",
    "WarehouseBusyError",
    "RunFailed",
    "ServiceError",
]


class WorkbenchError(Exception):
    """Root of every error the workbench raises on purpose."""

    def __init__(self, message: str, **facts: Any) -> None:
        super().__init__(message)
        self.message = message
        self.facts = facts
        for key, value in facts.items():
            setattr(self, key, value)

    def __reduce__(self):
        return (_rebuild, (type(self), self.message, self.facts))

    def __str__(self) -> str:
        return self.message


def _rebuild(cls: type[WorkbenchError], message: str, facts: dict[str, Any]) -> WorkbenchError:
    error = cls.__new__(cls)
    WorkbenchError.__init__(error, message, **facts)
    return error


class ConfigError(WorkbenchError):
    """The project is not set up as the workbench expects (config, dbt project, folders)."""


class SourceError(WorkbenchError):
    """A landing file could not be loaded. Attributes: ``source``, ``file``, ``row``."""

    def __init__(self, message: str, *, source: str, file: str | None = None,
                 row: int | None = None) -> None:
        super().__init__(message, source=source, file=file, row=row)


class TableNotFoundError(WorkbenchError, KeyError):
    """No such table in the warehouse. Attributes: ``table``, ``matches``."""

    def __init__(self, message: str, *, table: str, matches: list[str] | None = None) -> None:
        super().__init__(message, table=table, matches=list(matches or []))

    # KeyError quotes its message; a person should read it plainly.
    __str__ = WorkbenchError.__str__


class WarehouseBusyError(WorkbenchError):
    """Another process kept the warehouse's write lock past the timeout."""


class RunFailed(WorkbenchError):
    """A run finished with failed nodes. Attribute: ``result`` (the RunResult)."""

    def __init__(self, message: str, *, result: Any = None) -> None:
        super().__init__(message, result=result)


class ServiceError(WorkbenchError):
    """``workbench serve`` failed at something of its own: its Prefect server did not start
    (attribute ``log``: the server's log file), Prefect refused an event (``event``), or a
    stale source's answers failed (``source``, ``failed``: answer -> error)."""
