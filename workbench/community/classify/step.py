"""The ``classify_messages`` step: a label for every community message, paid for once.

Reads the staged messages, writes one row per message to the step's output table::

    message_id VARCHAR, label VARCHAR, confidence DOUBLE, classifier VARCHAR,
    step_version VARCHAR, labeled_at TIMESTAMP, text_sha256 VARCHAR

Two things keep it cheap on the tenth run as on the first:

* **Incremental**: a message already labeled under the current step version and classifier
  identity, with the same text, is left alone; an edited message is labeled again. Rows of
  messages no longer in the input are removed, so that the table stays one row per message
  of ``stg_community_messages`` (dbt tests the relationship).
* **Cached by text**: labels are kept in the sample's own ``_community.classification_cache``
  (copied once from ``_workbench`` on an upgraded warehouse) under
  ``(step_version, classifier, text_sha256)``. A message whose text was ever labeled, under
  any id, costs no classifier call, and each distinct new text is sent once, however many
  messages share it. A new classifier identity (other model, prompt or training data) or a
  new step version misses the cache on purpose: everything is labeled again.

Data moves in set-based SQL and Arrow batches (``batch_size`` texts per classifier call):
hashes are computed by DuckDB, only the texts that need a classifier go to Python.

Failures: by default a text the classifier cannot label raises :class:`ClassifierError`, and
the framework rolls the step back, cache included. With ``on_error = "skip"`` the texts that
worked are written and cached, the others are counted in ``metrics["failed"]`` (the run shows
a warning) and are tried again by the next run: the choice for long runs against a paid API.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from contextlib import suppress
from typing import Any

import duckdb
import pyarrow as pa

from workbench.errors import ConfigError
from workbench.results import utc_now
from workbench.steps import StepContext, StepReport
from workbench.warehouse import quote

from ..schema import SCHEMA, ensure_table, readable
from .base import Classifier, ClassifierError, Prediction, make_classifier

INPUT = "stg_community_messages"            # the dbt model the step reads by default
CACHE_NAME = "classification_cache"
CACHE_TABLE = f"{SCHEMA}.{CACHE_NAME}"
DEFAULT_BATCH_SIZE = 50_000

_CACHE_COLUMNS = """(
    step_version varchar, classifier varchar, text_sha256 varchar,
    label varchar, confidence double, tokens bigint, created_at timestamp)"""
_OUTPUT_COLUMNS = """(
    message_id varchar, label varchar, confidence double, classifier varchar,
    step_version varchar, labeled_at timestamp, text_sha256 varchar)"""
_IDENTIFIER_PART = re.compile(r'"((?:[^"]|"")*)"|([^."\s]+)')


def classify_messages(ctx: StepContext, classifier: Classifier | None = None) -> StepReport:
    """Label each message of ``stg_community_messages`` question/feedback/bug/praise/other.

    Options (``ctx.options``, from ``[steps.<name>.options]``):
        backend: ``"sklearn"`` (default, offline) or ``"openai"`` (any OpenAI-compatible
            endpoint; see :mod:`workbench.community.classify.chat` for its options).
        batch_size: texts per classifier call (default 50,000); also bounds memory.
        on_error: ``"raise"`` (default) or ``"skip"``: write what worked, count the rest
            in ``metrics["failed"]`` and leave them to the next run.
        input: the input to read when the step has several (default
            ``stg_community_messages``).
        cache_dir: where the sklearn model is kept between processes (default
            ``<project>/.workbench/cache/classify``).

    Args:
        ctx: the step's context; ``ctx.output`` is the table written.
        classifier: use this classifier instead of building one from the options.

    Returns:
        A StepReport: ``rows`` labeled this run, and metrics ``calls`` (texts sent to the
        classifier), ``cache_hits`` (messages labeled from the cache), ``duplicates`` (new
        messages sharing a text sent this run), ``unchanged`` (already labeled, skipped),
        ``removed`` (labels of messages gone from the input), ``failed``, ``tokens``,
        ``classified``, ``messages_per_s``. A dry run classifies nothing and writes nothing:
        its ``frame`` lists the messages it would label and how.

    Raises:
        ClassifierError: the classifier failed on a text; names the message and endpoint.
        ConfigError: no input or output table, or a bad option.

    Example:
        >>> report = classify_messages(ctx)                  # doctest: +SKIP
        >>> report.metrics["calls"], report.metrics["cache_hits"]   # doctest: +SKIP
        (1, 0)
    """
    started = time.perf_counter()
    options: Mapping[str, Any] = ctx.options or {}
    source = _input_relation(ctx, options)
    output = ctx.output
    if not output:
        raise ConfigError(f"step {ctx.name!r} has no output table: set output = "
                          f"\"message_labels\" in [steps.{ctx.name}]", step=ctx.name)
    batch_size = _positive_int(options.get("batch_size", DEFAULT_BATCH_SIZE), "batch_size", ctx)
    on_error = str(options.get("on_error", "raise"))
    if on_error not in ("raise", "skip"):
        raise ConfigError(f"[steps.{ctx.name}.options] on_error = {on_error!r}: use "
                          f"\"raise\" or \"skip\"", step=ctx.name)
    owned = classifier is None
    if classifier is None:
        classifier = make_classifier(
            {"cache_dir": ctx.root / ".workbench" / "cache" / "classify", **options})
    try:
        return _Run(ctx, classifier, source, output).run(batch_size, on_error == "skip",
                                                         started)
    finally:
        if owned and hasattr(classifier, "close"):
            classifier.close()


class _Run:
    """One execution of the step: temp tables named for it, dropped at the end."""

    def __init__(self, ctx: StepContext, clf: Classifier, source: str, output: str) -> None:
        self.ctx, self.con, self.clf = ctx, ctx.con, clf
        self.source, self.output = source, output
        self.version, self.identity = str(ctx.version), clf.identity
        self.key = [self.version, self.identity]
        tag = uuid.uuid4().hex[:12]
        self.pending = f"_classify_pending_{tag}"    # messages that need a label
        self.todo = f"_classify_todo_{tag}"          # distinct texts that need the classifier

    def run(self, batch_size: int, skip_errors: bool, started: float) -> StepReport:
        try:
            return self._run(batch_size, skip_errors, started)
        finally:
            for table in (self.pending, self.todo):
                with suppress(duckdb.Error):     # an aborted transaction drops them anyway
                    self.con.execute(f"drop table if exists {table}")

    def _run(self, batch_size: int, skip_errors: bool, started: float) -> StepReport:
        con, ctx, key, identity = self.con, self.ctx, self.key, self.identity
        if not ctx.dry_run:
            output_schema = _schema_of(self.output)
            if output_schema:
                con.execute(f"create schema if not exists {output_schema}")
            ensure_table(con, CACHE_NAME, _CACHE_COLUMNS)
            con.execute(f"create table if not exists {self.output} {_OUTPUT_COLUMNS}")
            if not _has_column(con, self.output, "text_sha256"):     # written before it had one
                con.execute(f"alter table {self.output} add column text_sha256 varchar")
        # A dry run may find neither table (and may not create them): read them as empty.
        labeled = _or_empty(con, self.output, _OUTPUT_NAMES, _EMPTY_OUTPUT)
        if labeled == self.output and not _has_column(con, self.output, "text_sha256"):
            labeled = (f"(select *, null::varchar as text_sha256 from {self.output})")
        cache = readable(con, CACHE_NAME) or _empty(_CACHE_NAMES, _EMPTY_CACHE)

        # Messages without a current label: new ones, edited ones, or all of them after a
        # change of classifier or step version. One row per message id, whatever the input.
        con.execute(f"""
            create temp table {self.pending} as
            with s as (
                select message_id, text, sha256(text) as text_sha256
                from (select cast(message_id as varchar) as message_id,
                             coalesce(min(cast(text as varchar)), '') as text
                      from {self.source} where message_id is not null group by 1))
            select * from s
            where not exists (
                select 1 from {labeled} o
                where o.message_id = s.message_id and o.step_version = ? and o.classifier = ?
                  and o.text_sha256 = s.text_sha256)""", key)
        hit = f"""exists (select 1 from {cache} c where c.text_sha256 = p.text_sha256
                          and c.step_version = ? and c.classifier = ?)"""
        n_pending, n_hits, n_total, n_orphans = con.execute(f"""
            select (select count(*) from {self.pending}),
                   (select count(*) from {self.pending} p where {hit}),
                   (select count(distinct message_id) from {self.source}),
                   (select count(*) from {labeled} o where not exists (
                        select 1 from {self.source} s where s.message_id = o.message_id))
            """, key).fetchall()[0]
        # Each distinct text without a cached label, numbered so that batches are ranges.
        con.execute(f"""
            create temp table {self.todo} as
            select text_sha256, text, row_number() over (order by text_sha256) as rn
            from (select text_sha256, any_value(text) as text from {self.pending} p
                  where not {hit} group by text_sha256)""", key)
        n_todo = con.execute(f"select count(*) from {self.todo}").fetchall()[0][0]

        if ctx.dry_run:
            frame = con.sql(f"""
                select message_id, text, case when {hit} then 'cache' else 'classify' end
                       as action
                from {self.pending} p order by message_id""", params=key).df()
            return StepReport(rows=n_pending, frame=frame, message=(
                f"would label {n_pending:,} messages: {n_todo:,} texts to classify with "
                f"{identity}, {n_hits:,} from the cache"),
                metrics={"calls": 0, "cache_hits": n_hits, "would_call": n_todo,
                         "tokens": 0, "classified": 0})

        before = self.clf.stats.snapshot()
        tokens, classify_s, failed_texts, first_error = 0, 0.0, 0, None
        for start in range(0, n_todo, batch_size):
            batch = con.sql(f"select text_sha256, text from {self.todo} "
                            f"where rn > ? and rn <= ? order by rn",
                            params=[start, start + batch_size]).to_arrow_table()
            texts = batch.column("text").to_pylist()
            t0 = time.perf_counter()
            try:
                predictions = self.clf.classify(texts, skip_errors=skip_errors)
            except ClassifierError as exc:
                raise self._with_message_id(exc, batch) from exc
            classify_s += time.perf_counter() - t0
            if len(predictions) != len(texts):
                raise ClassifierError(f"classifier {identity} returned {len(predictions)} "
                                      f"labels for {len(texts)} texts", endpoint=identity)
            tokens += sum(p.tokens for p in predictions if p.tokens)
            failed = [i for i, p in enumerate(predictions) if p.error is not None]
            if failed and first_error is None:
                first_error = self._with_message_id(
                    ClassifierError(predictions[failed[0]].error or "", index=failed[0]), batch)
            failed_texts += len(failed)
            self._cache(batch.column("text_sha256"), predictions)
            ctx.log.info("%s: classified %s of %s texts", ctx.name,
                         f"{min(start + batch_size, n_todo):,}", f"{n_todo:,}")

        written, removed = self._write(n_orphans)
        seconds = time.perf_counter() - started
        after = self.clf.stats.snapshot()
        metrics: dict[str, float | int] = {
            "calls": n_todo,
            "cache_hits": n_hits,
            "duplicates": n_pending - n_hits - n_todo,
            "unchanged": n_total - n_pending,
            "removed": removed,
            "failed": n_pending - written,
            "tokens": tokens,
            "classified": written,
            "messages_per_s": round(written / seconds, 1) if seconds > 0 else 0.0,
            "classifier_texts_per_s": round(n_todo / classify_s, 1) if classify_s > 0 else 0.0,
        }
        if after["requests"] > before["requests"]:
            metrics["requests"] = int(after["requests"] - before["requests"])
            metrics["retries"] = int(after["retries"] - before["retries"])
        message = (f"labeled {written:,} messages with {identity}: {n_todo:,} texts "
                   f"classified, {n_hits:,} from the cache; {n_total - n_pending:,} already "
                   f"labeled")
        if removed:
            message += f"; removed {removed:,} labels of messages no longer in the input"
        if first_error is not None:
            message += (f"; {n_pending - written:,} messages ({failed_texts:,} texts) failed "
                        f"and are left to the next run, e.g. {first_error}")
        return StepReport(rows=written, message=message, metrics=metrics)

    def _cache(self, hashes: pa.ChunkedArray, predictions: list[Prediction]) -> None:
        """Append a batch's labels (failures left out) to the cache, through Arrow."""
        keep = pa.array([p.error is None for p in predictions], pa.bool_())
        rows = pa.table({
            "text_sha256": hashes,
            "label": pa.array([p.label for p in predictions], pa.string()),
            "confidence": pa.array([p.confidence for p in predictions], pa.float64()),
            "tokens": pa.array([p.tokens for p in predictions], pa.int64()),
        }).filter(keep)
        now = utc_now()
        name = f"_classify_batch_{uuid.uuid4().hex[:12]}"
        self.con.register(name, rows)
        try:
            self.con.execute(f"""
                insert into {CACHE_TABLE}
                select ?, ?, b.text_sha256, b.label, b.confidence, b.tokens, ?
                from {name} b""", [*self.key, now])
        finally:
            self.con.unregister(name)

    def _write(self, n_orphans: int) -> tuple[int, int]:
        """Replace the labels of pending messages that have one now; drop orphans."""
        con, output, pending = self.con, self.output, self.pending
        now = utc_now()
        fresh = f"""
            select p.message_id, c.label, c.confidence, ? as classifier, ? as step_version,
                   ?::timestamp as labeled_at, p.text_sha256
            from {pending} p
            join (select text_sha256, any_value(label) as label,
                         any_value(confidence) as confidence
                  from {CACHE_TABLE} where step_version = ? and classifier = ?
                  group by text_sha256) c using (text_sha256)"""
        params = [self.identity, self.version, now, *self.key]
        # A message that failed this time keeps its old label, if it had one.
        con.execute(f"delete from {output} where message_id in (select message_id from "
                    f"{pending} p where exists (select 1 from {CACHE_TABLE} c where "
                    f"c.text_sha256 = p.text_sha256 and c.step_version = ? and "
                    f"c.classifier = ?))", self.key)
        written = con.execute(f"insert into {output} (message_id, label, confidence, "
                              f"classifier, step_version, labeled_at, text_sha256) {fresh}",
                              params).fetchall()[0][0]
        removed = 0
        if n_orphans:
            removed = con.execute(f"delete from {output} o where not exists (select 1 from "
                                  f"{self.source} s where s.message_id = o.message_id)"
                                  ).fetchall()[0][0]
        return written, removed

    def _with_message_id(self, exc: ClassifierError, batch: pa.Table) -> ClassifierError:
        """The classifier knows a text's position in the batch; a person needs the message."""
        message_id = None
        if exc.index is not None and 0 <= exc.index < batch.num_rows:
            text_hash = batch.column("text_sha256")[exc.index].as_py()
            message_id = self.con.execute(f"select min(message_id) from {self.pending} "
                                          f"where text_sha256 = ?", [text_hash]).fetchall()[0][0]
        where = f"message {message_id}: " if message_id else ""
        return ClassifierError(f"{where}{exc.message}", endpoint=exc.endpoint, index=exc.index,
                               text_prefix=exc.text_prefix, attempts=exc.attempts,
                               status=exc.status, message_id=message_id)


# --------------------------------------------------------------------------------------------
# Helpers

_OUTPUT_NAMES = ("(message_id, label, confidence, classifier, step_version, labeled_at, "
                 "text_sha256)")
_EMPTY_OUTPUT = ("(null::varchar, null::varchar, null::double, null::varchar, null::varchar, "
                 "null::timestamp, null::varchar)")
_CACHE_NAMES = "(step_version, classifier, text_sha256, label, confidence, tokens, created_at)"
_EMPTY_CACHE = ("(null::varchar, null::varchar, null::varchar, null::varchar, null::double, "
                "null::bigint, null::timestamp)")


def _input_relation(ctx: StepContext, options: Mapping[str, Any]) -> str:
    inputs = dict(ctx.inputs or {})
    wanted = options.get("input", INPUT)
    if wanted in inputs:
        return inputs[wanted]
    if len(inputs) == 1:
        return next(iter(inputs.values()))
    raise ConfigError(f"step {ctx.name!r} reads {wanted!r}, which is not among its inputs "
                      f"{sorted(inputs)}: add it to inputs = [...] in [steps.{ctx.name}], or "
                      f"set options.input", step=ctx.name)


def _positive_int(value: Any, name: str, ctx: StepContext) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1:
        raise ConfigError(f"[steps.{ctx.name}.options] {name} = {value!r}: use a positive "
                          f"whole number", step=ctx.name)
    return number


def _parts(relation: str) -> list[str]:
    """'"steps"."message_labels"' -> ['steps', 'message_labels'] (unquoted)."""
    return [quoted.replace('""', '"') if quoted else bare
            for quoted, bare in _IDENTIFIER_PART.findall(relation)]


def _schema_of(relation: str) -> str | None:
    """'"steps"."message_labels"' -> '"steps"'; None for a bare table name."""
    parts = _parts(relation)
    if len(parts) < 2:
        return None
    return ".".join(quote(p) for p in parts[:-1])


def _exists(con: duckdb.DuckDBPyConnection, relation: str) -> bool:
    parts = _parts(relation)
    schema = parts[-2] if len(parts) >= 2 else None
    sql = ("select count(*) from information_schema.tables "
           "where table_catalog = current_database() and table_name = ?")
    params = [parts[-1]]
    if schema:
        sql += " and table_schema = ?"
        params.append(schema)
    # On the step's own connection: a table created earlier in its transaction counts.
    return con.execute(sql, params).fetchall()[0][0] > 0


def _has_column(con: duckdb.DuckDBPyConnection, relation: str, column: str) -> bool:
    names = [row[0] for row in con.execute(f"describe {relation}").fetchall()]
    return column in names


def _or_empty(con: duckdb.DuckDBPyConnection, relation: str, names: str, empty: str) -> str:
    return relation if _exists(con, relation) else _empty(names, empty)


def _empty(names: str, empty: str) -> str:
    """A relation with these columns and no rows, for a table a dry run may not create."""
    return f"(select * from (values {empty}) t{names} where false)"
