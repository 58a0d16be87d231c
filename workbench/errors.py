"""The workbench's exceptions: one family, each carrying the facts as attributes.

    WorkbenchError             root of every error raised on purpose
     ├── ConfigError           bad or missing workbench.toml, dbt project or data folder
     ├── SourceError           a landing file that cannot be loaded (names file and row)
     ├── TableNotFoundError    unknown or malformed table name (lists close matches)
     ├── ColumnNotFoundError   a sort or filter column the table lacks (table explorer)
     ├── WarehouseUsageError   a programming error: Warehouse.connect() outside writing()
     ├── WarehouseBusyError    another process holds the warehouse for writing too long
     ├── QueryRefused          wb.sql / %%sql tried to touch a file, ATTACH or write
     ├── RunFailed             raised by RunResult.raise_for_failures()
     ├── RunCancelled          a run stopped at a node boundary because it was asked to
     ├── ReportFailed          a report notebook failed (names the notebook and cell)
     ├── ServiceError          workbench serve could not start its Prefect server, emit an
                               event, or answer a stale source (names server log / source)
     ├── DeliveryFailed        one message was not delivered (names its key and channel)
     │    └── ChannelUnavailable   the channel delivers nothing now (server down, bad login)
     └── ClassifierError       a message the classifier could not label (names the message
                               and endpoint)

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
    "ColumnNotFoundError",
    "WarehouseUsageError",
    "WarehouseBusyError",
    "QueryRefused",
    "RunFailed",
    "RunCancelled",
    "ReportFailed",
    "DeliveryFailed",
    "ChannelUnavailable",
    "ClassifierError",
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


class QueryRefused(WorkbenchError):
    """A reader's SQL tried what readers may not: write or read a file, ATTACH a database,
    change a setting or write the published snapshot. Attribute: ``reason``."""


class RunFailed(WorkbenchError):
    """A run finished with failed nodes. Attribute: ``result`` (the RunResult)."""

    def __init__(self, message: str, *, result: Any = None) -> None:
        super().__init__(message, result=result)


class ServiceError(WorkbenchError):
    """``workbench serve`` failed at something of its own: its Prefect server did not start
    (attribute ``log``: the server's log file), Prefect refused an event (``event``), or a
    stale source's answers failed (``source``, ``failed``: answer -> error)."""


class DeliveryFailed(WorkbenchError):
    """This message was not delivered (it will be retried). Attributes: ``key``, ``channel``."""

    def __init__(self, message: str, *, key: str | None = None, channel: str | None = None) -> None:
        super().__init__(message, key=key, channel=channel)


class ChannelUnavailable(DeliveryFailed):
    """The channel cannot deliver anything now (server down, bad credentials, bad sender)."""


class ClassifierError(WorkbenchError):
    """A classifier could not label a text, after its retries.

    Attributes: ``endpoint`` (URL or model name), ``index`` (position of the text in the
    batch given to ``classify``), ``text_prefix`` (its first 60 characters), ``attempts``,
    ``status`` (last HTTP status, if any) and ``message_id`` (filled in by the step, which
    knows which message the text came from).
    """

    def __init__(self, message: str, *, endpoint: str | None = None, index: int | None = None,
                 text_prefix: str | None = None, attempts: int | None = None,
                 status: int | None = None, message_id: str | None = None) -> None:
        super().__init__(message, endpoint=endpoint, index=index, text_prefix=text_prefix,
                         attempts=attempts, status=status, message_id=message_id)


class RunCancelled(WorkbenchError):
    """A run was cancelled (``CancelToken.cancel()``): no new work started after it, the
    work already running finished, and nothing was recorded or published. What it loaded
    stays pending, so the next run builds it. Attribute: ``results`` (the nodes that ran)."""

    def __init__(self, message: str, *, results: Any = ()) -> None:
        super().__init__(message, results=tuple(results))


class ColumnNotFoundError(WorkbenchError, KeyError):
    """A sort or filter column that the table does not have. Attributes: ``table``,
    ``column``, ``matches`` (close column names)."""

    def __init__(self, message: str, *, table: str, column: str,
                 matches: list[str] | None = None) -> None:
        super().__init__(message, table=table, column=column, matches=list(matches or []))

    __str__ = WorkbenchError.__str__   # KeyError would quote the message


class WarehouseUsageError(WorkbenchError, RuntimeError):
    """The warehouse was used against its protocol, e.g. ``Warehouse.connect()`` without
    holding the write lock (``writing()``): a bug in the calling code, not in the data."""


class ReportFailed(WorkbenchError):
    """A report notebook failed. Attributes: ``notebook``, ``cell`` (its number, counting
    every cell from 1, or None if no cell failed), ``source`` (the cell's first line),
    ``ename``, ``evalue``, ``html`` and ``executed`` (what was written, or None)."""

    def __init__(self, message: str, *, notebook: str, cell: int | None = None,
                 source: str | None = None, ename: str = "", evalue: str = "",
                 html: str | None = None, executed: str | None = None) -> None:
        super().__init__(message, notebook=notebook, cell=cell, source=source, ename=ename,
                         evalue=evalue, html=html, executed=executed)
