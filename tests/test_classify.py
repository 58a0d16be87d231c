"""The classify_messages step and its classifiers, on real DuckDB files and a real HTTP server.

The step runs against a DuckDB file holding ``staging.stg_community_messages`` (built from the
demo generator or from a few hand-written rows), with a StepContext built by hand, the way the
framework hands one over. The ``openai`` backend talks to a chat-completions server started
on 127.0.0.1 by the test, which can answer 429, stall, send garbage and count requests.
"""

from __future__ import annotations

import json
import logging
import pickle
import shutil
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest

from workbench import demo
from workbench.community.classify import (
    CACHE_TABLE,
    LABELS,
    Classifier,
    ClassifierError,
    classify_messages,
    make_classifier,
)
from workbench.community.classify import training
from workbench.steps import StepContext

SOURCE = '"staging"."stg_community_messages"'
OUTPUT = '"steps"."message_labels"'
# Measured 1.000 on the demo's scale-0.05 sample (seed 42); the model never saw that sample.
MIN_ACCURACY = 0.97


# --------------------------------------------------------------------------------------------
# Fixtures: a warehouse with staged messages, and a way to run the step on it


def _stage(con: duckdb.DuckDBPyConnection, rows: list[tuple[str, str]] | None = None,
           landing: Path | None = None) -> None:
    con.execute("create schema if not exists staging")
    if landing is not None:
        con.execute(f"""
            create or replace table staging.stg_community_messages as
            select cast(message_id as varchar) as message_id, cast(channel as varchar) as channel,
                   cast(text as varchar) as text
            from read_json_auto('{landing}/*.jsonl')""")
    else:
        con.execute("create or replace table staging.stg_community_messages "
                    "(message_id varchar, channel varchar, text varchar)")
        con.executemany("insert into staging.stg_community_messages values (?, 'help', ?)",
                        rows or [])


def _add(con: duckdb.DuckDBPyConnection, message_id: str, text: str) -> None:
    con.execute("insert into staging.stg_community_messages values (?, 'general', ?)",
                [message_id, text])


@pytest.fixture
def warehouse(tmp_path: Path):
    """A DuckDB file with the demo's messages at scale 0.02 (200 messages) staged."""
    demo.generate(tmp_path, scale=0.02)
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    _stage(con, landing=tmp_path / "data" / "landing" / "community_messages")
    yield con
    con.close()


def run_step(con: duckdb.DuckDBPyConnection, root: Path, *, version: str = "1",
             dry_run: bool = False, classifier: Classifier | None = None, **options):
    ctx = StepContext(name="classify_messages", run_id="test-run", con=con, options=options,
                      inputs={"stg_community_messages": SOURCE}, output=OUTPUT, root=root,
                      version=version, dry_run=dry_run,
                      log=logging.getLogger("test.classify"))
    return classify_messages(ctx, classifier=classifier)


def labels(con: duckdb.DuckDBPyConnection) -> dict[str, tuple]:
    rows = con.execute(f"select message_id, label, confidence, classifier, step_version "
                       f"from {OUTPUT}").fetchall()
    return {r[0]: r[1:] for r in rows}


def count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return con.execute(f"select count(*) from ({sql})").fetchone()[0]


# --------------------------------------------------------------------------------------------
# The step with the default (sklearn) backend


def test_every_message_gets_a_label_with_confidence_and_provenance(warehouse, tmp_path):
    n = count(warehouse, f"select * from {SOURCE}")
    distinct_texts = count(warehouse, f"select distinct text from {SOURCE}")
    report = run_step(warehouse, tmp_path)

    assert report.rows == n == report.metrics["classified"]
    assert report.metrics["calls"] == distinct_texts      # each distinct text sent once
    assert report.metrics["cache_hits"] == 0
    assert report.metrics["messages_per_s"] > 0
    assert report.metrics["tokens"] == 0
    columns = warehouse.execute(f"describe {OUTPUT}").fetchall()
    assert [(c[0], c[1]) for c in columns][:6] == [
        ("message_id", "VARCHAR"), ("label", "VARCHAR"), ("confidence", "DOUBLE"),
        ("classifier", "VARCHAR"), ("step_version", "VARCHAR"), ("labeled_at", "TIMESTAMP")]
    written = labels(warehouse)
    assert len(written) == n
    assert {label for label, *_ in written.values()} == set(LABELS)
    assert all(0.0 <= conf <= 1.0 for _, conf, *_ in written.values())
    identity = make_classifier({}).identity
    assert {(c, v) for _, _, c, v in written.values()} == {(identity, "1")}
    assert count(warehouse, f"select * from {OUTPUT} where labeled_at is null") == 0
    assert count(warehouse, f"select * from {CACHE_TABLE}") == distinct_texts
    assert "labeled 200 messages" in report.message


def test_rerun_makes_no_classifier_calls_and_a_lost_table_comes_back_from_the_cache(
        warehouse, tmp_path):
    run_step(warehouse, tmp_path)
    first = labels(warehouse)
    classifier = make_classifier({})

    again = run_step(warehouse, tmp_path, classifier=classifier)
    assert (again.rows, again.metrics["calls"], again.metrics["unchanged"]) == (0, 0, 200)
    assert classifier.stats.texts == 0

    warehouse.execute(f"drop table {OUTPUT}")
    restored = run_step(warehouse, tmp_path, classifier=classifier)
    assert restored.rows == 200
    assert restored.metrics["calls"] == 0 and classifier.stats.texts == 0
    assert restored.metrics["cache_hits"] == 200
    assert labels(warehouse) == first


def test_an_upgraded_warehouse_keeps_its_cache_from_the_old_schema(warehouse, tmp_path):
    """Releases before kept the cache in _workbench: the first run copies it to _community
    once, and pays no classifier call for the labels it already had."""
    run_step(warehouse, tmp_path)
    warehouse.execute("create schema _workbench")
    warehouse.execute(f"create table _workbench.classification_cache as from {CACHE_TABLE}")
    warehouse.execute(f"drop table {CACHE_TABLE}")
    warehouse.execute(f"drop table {OUTPUT}")
    classifier = make_classifier({})

    preview = run_step(warehouse, tmp_path, dry_run=True)
    assert preview.metrics["cache_hits"] == 200 and preview.metrics["would_call"] == 0
    upgraded = run_step(warehouse, tmp_path, classifier=classifier)
    assert (upgraded.rows, upgraded.metrics["cache_hits"]) == (200, 200)
    assert classifier.stats.texts == 0
    old_rows = count(warehouse, "select * from _workbench.classification_cache")
    assert count(warehouse, f"select * from {CACHE_TABLE}") == old_rows

    warehouse.execute("delete from _workbench.classification_cache")   # copied once, not again
    warehouse.execute(f"drop table {OUTPUT}")
    assert run_step(warehouse, tmp_path, classifier=classifier).metrics["calls"] == 0

def test_one_new_message_costs_exactly_one_call(warehouse, tmp_path):
    run_step(warehouse, tmp_path)
    _add(warehouse, "9999999999.000001", "Does the scheduler retry failed runs on its own?")
    classifier = make_classifier({})

    report = run_step(warehouse, tmp_path, classifier=classifier)
    assert (report.rows, report.metrics["calls"], report.metrics["cache_hits"]) == (1, 1, 0)
    assert classifier.stats.texts == 1
    assert labels(warehouse)["9999999999.000001"][0] == "question"


def test_same_text_under_a_new_message_id_costs_no_call(warehouse, tmp_path):
    run_step(warehouse, tmp_path)
    old_id, text = warehouse.execute(f"select message_id, text from {SOURCE} "
                                     f"order by message_id limit 1").fetchone()
    _add(warehouse, "9999999999.000002", text)              # the same message, re-loaded

    report = run_step(warehouse, tmp_path)
    assert (report.rows, report.metrics["calls"], report.metrics["cache_hits"]) == (1, 0, 1)
    written = labels(warehouse)
    assert written["9999999999.000002"] == written[old_id]


def test_an_edited_message_is_labeled_again(warehouse, tmp_path):
    run_step(warehouse, tmp_path)
    message_id = warehouse.execute(f"select min(message_id) from {SOURCE}").fetchone()[0]
    warehouse.execute(f"update {SOURCE} set text = 'The export dialog crashes the tab, "
                      f"every single time' where message_id = ?", [message_id])

    report = run_step(warehouse, tmp_path)
    assert (report.rows, report.metrics["calls"]) == (1, 1)
    assert count(warehouse, f"select * from {OUTPUT}") == 200      # replaced, not added


def test_new_training_data_or_step_version_relabels_everything(warehouse, tmp_path):
    run_step(warehouse, tmp_path)
    distinct_texts = count(warehouse, f"select distinct text from {SOURCE}")
    retrained = tmp_path / "training.jsonl"
    shutil.copy(training.TRAINING_PATH, retrained)
    with open(retrained, "a", encoding="utf-8") as f:
        f.write(json.dumps({"text": "Any ETA on the fix for the login loop?",
                            "label": "question"}) + "\n")
    new = make_classifier({"training_path": str(retrained)})
    assert new.identity != make_classifier({}).identity

    report = run_step(warehouse, tmp_path, training_path=str(retrained))
    assert (report.rows, report.metrics["calls"], report.metrics["cache_hits"]) == (
        200, distinct_texts, 0)
    assert {c for _, _, c, _ in labels(warehouse).values()} == {new.identity}
    assert count(warehouse, f"select * from {OUTPUT}") == 200

    bumped = run_step(warehouse, tmp_path, version="2", training_path=str(retrained))
    assert (bumped.rows, bumped.metrics["calls"]) == (200, distinct_texts)
    assert {v for *_, v in labels(warehouse).values()} == {"2"}


def test_a_label_table_written_without_text_hashes_is_upgraded_and_relabeled(warehouse, tmp_path):
    warehouse.execute("create schema steps")
    warehouse.execute(f"create table {OUTPUT} (message_id varchar, label varchar, confidence "
                      f"double, classifier varchar, step_version varchar, labeled_at timestamp)")
    warehouse.execute(f"insert into {OUTPUT} select message_id, 'other', 0.5, 'old', '1', "
                      f"now()::timestamp from {SOURCE}")
    assert run_step(warehouse, tmp_path, dry_run=True).rows == 200

    report = run_step(warehouse, tmp_path)
    assert report.rows == 200 and count(warehouse, f"select * from {OUTPUT}") == 200
    assert count(warehouse, f"select * from {OUTPUT} where text_sha256 is null") == 0


def test_labels_of_messages_gone_from_the_input_are_removed(warehouse, tmp_path):
    run_step(warehouse, tmp_path)
    gone = warehouse.execute(f"select min(message_id) from {SOURCE}").fetchall()[0][0]
    warehouse.execute(f"delete from {SOURCE} where message_id = ?", [gone])

    report = run_step(warehouse, tmp_path)
    assert (report.rows, report.metrics["calls"], report.metrics["removed"]) == (0, 0, 1)
    assert gone not in labels(warehouse) and len(labels(warehouse)) == 199


def test_step_writes_nothing_when_the_callers_transaction_rolls_back(warehouse, tmp_path):
    warehouse.begin()                          # as the framework runs a step
    assert run_step(warehouse, tmp_path).rows == 200
    warehouse.rollback()
    assert count(warehouse, "select * from information_schema.tables "
                            "where table_schema in ('steps', '_community')") == 0


def test_dry_run_lists_the_work_and_writes_nothing(warehouse, tmp_path):
    report = run_step(warehouse, tmp_path, dry_run=True)
    assert report.rows == 200 and report.metrics["calls"] == 0
    assert report.metrics["would_call"] == count(warehouse, f"select distinct text from {SOURCE}")
    assert set(report.frame["action"]) == {"classify"}
    assert count(warehouse, "select * from information_schema.tables "
                            "where table_schema in ('steps', '_community')") == 0

    # A preview reads the published snapshot, opened read-only.
    run_step(warehouse, tmp_path)
    _add(warehouse, "9999999999.000003", "Where is the changelog?")
    path = warehouse.execute("select path from duckdb_databases() "
                             "where database_name = current_database()").fetchall()[0][0]
    warehouse.close()
    with duckdb.connect(path, read_only=True) as snapshot:
        preview = run_step(snapshot, tmp_path, dry_run=True)
    assert preview.frame[["message_id", "action"]].values.tolist() == [
        ["9999999999.000003", "classify"]]


def test_a_model_persisted_in_the_cache_dir_is_reused_by_identity(tmp_path, monkeypatch):
    from workbench.community.classify import local

    cache_dir = tmp_path / "cache"
    first = local.SklearnClassifier(cache_dir=cache_dir)
    first.classify(["hello"])
    files = list(cache_dir.glob("*.joblib"))
    assert len(files) == 1 and first.training_sha256[:16] in files[0].name
    monkeypatch.setattr(local, "_MODELS", {})     # as a new process would start
    monkeypatch.setattr(local, "_build_pipeline", None)      # and it must not train
    second = local.SklearnClassifier(cache_dir=cache_dir)
    assert second.identity == first.identity
    texts = ["Getting `KeyError: 'x'` when exporting", "Thanks all!"]
    assert second.classify(texts) == first.classify(texts)


# --------------------------------------------------------------------------------------------
# The model and its training data


def test_public_names_and_backends_follow_one_interface():
    import workbench.community.classify as package

    assert sorted(package.__all__) == sorted(
        name for name in dir(package) if not name.startswith("_")
        and not isinstance(getattr(package, name), type(package)))
    clf = make_classifier({})
    assert isinstance(clf, Classifier)
    assert clf.labels == tuple(sorted(LABELS))
    chat = make_classifier({"backend": "openai", "base_url": "http://127.0.0.1:9", "model": "m"})
    assert isinstance(chat, Classifier) and chat.identity.startswith("openai/m@")


def test_a_mistyped_option_or_backend_is_a_config_error_that_suggests_the_fix(monkeypatch):
    from workbench.errors import ConfigError

    for name in ("BASE_URL", "MODEL", "API_KEY"):
        monkeypatch.delenv(f"WORKBENCH_LLM_{name}", raising=False)

    with pytest.raises(ConfigError, match="'max_concurency'.*Did you mean 'max_concurrency'"):
        make_classifier({"backend": "openai", "base_url": "http://x", "model": "m",
                         "max_concurency": 4})
    with pytest.raises(ConfigError, match="backend 'openia' is unknown: use one of openai"):
        make_classifier({"backend": "openia"})
    with pytest.raises(ConfigError, match="needs base_url and model"):
        make_classifier({"backend": "openai"})


def test_sklearn_model_is_accurate_on_the_demo_labeled_sample(tmp_path):
    demo.generate(tmp_path, scale=0.05)           # the demo's seed, never used for training
    sample = training.read_jsonl(tmp_path / demo.LABELED_PATH)
    clf = make_classifier({"backend": "sklearn"})
    started = time.perf_counter()
    predicted = [p.label for p in clf.classify([r["text"] for r in sample])]
    seconds = time.perf_counter() - started

    accuracy = sum(p == r["label"] for p, r in zip(predicted, sample)) / len(sample)
    assert len(sample) == 500
    assert accuracy >= MIN_ACCURACY, Counter(
        (r["label"], p) for p, r in zip(predicted, sample) if p != r["label"])
    assert seconds < 5


def test_shipped_training_set_is_rebuilt_byte_for_byte_and_not_from_the_demo_seed():
    records = training.build_training_set()
    assert training.render(records) == training.TRAINING_PATH.read_text(encoding="utf-8")
    assert len(records) > 3000
    assert {r["source"] for r in records} == {f"demo-seed-{training.TRAINING_SEED}", "hand"}
    assert training.TRAINING_SEED != 42
    assert set(Counter(r["label"] for r in records)) == set(LABELS)


# --------------------------------------------------------------------------------------------
# The openai backend against a real local chat-completions server


class ChatServer:
    """A chat-completions endpoint on 127.0.0.1 that misbehaves when a text asks it to.

    Markers in a message's text: ``[429]`` is refused with 429 the first time, ``[slow]``
    stalls past the client's timeout the first time, ``[garbage]`` gets a non-JSON answer the
    first time, ``[fail]`` always gets a 500. Texts with a '?' are questions, the rest
    'other'. Every answer reports usage of 12 + 3 tokens.
    """

    TOKENS = 15

    def __init__(self, delay: float = 0.0, slow: float = 1.5) -> None:
        self.delay, self.slow = delay, slow
        self.lock = threading.Lock()
        self.attempts: Counter[str] = Counter()
        self.statuses: list[int] = []
        self.bodies: list[dict] = []
        self.in_flight = self.max_in_flight = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:      # keep pytest's output clean
                pass

            def do_POST(self) -> None:
                with server.lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    server.handle(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass                                # the client gave up on a slow answer
                finally:
                    with server.lock:
                        server.in_flight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        body = json.loads(h.rfile.read(int(h.headers["Content-Length"])))
        text = body["messages"][-1]["content"]
        with self.lock:
            self.bodies.append(body)
            self.attempts[text] += 1
            first = self.attempts[text] == 1
        if self.delay:
            time.sleep(self.delay)
        if "[fail]" in text:
            return self.send(h, 500, {"error": {"message": "boom"}})
        if "[429]" in text and first:
            return self.send(h, 429, {"error": {"message": "rate limited"}},
                             {"Retry-After": "0"})
        if "[slow]" in text and first:
            time.sleep(self.slow)
        content = json.dumps({"label": "question" if "?" in text else "other",
                              "confidence": 0.9})
        if "[garbage]" in text and first:
            content = "Sure! The label is question."
        self.send(h, 200, {
            "id": "chatcmpl-test", "object": "chat.completion", "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": self.TOKENS},
        })

    def send(self, h: BaseHTTPRequestHandler, status: int, payload: dict,
             headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            h.send_header(key, value)
        h.end_headers()
        h.wfile.write(data)
        with self.lock:
            self.statuses.append(status)

    def __enter__(self) -> ChatServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def chat_warehouse(tmp_path: Path):
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    _stage(con, [
        ("1.000001", "How do I schedule a nightly run? [429]"),
        ("1.000002", "Good morning everyone"),
        ("1.000003", "Can the scheduler send alerts to Slack? [slow]"),
        ("1.000004", "Is there a dark mode? [garbage]"),
        ("1.000005", "Good morning everyone"),                  # same text: one request
        ("1.000006", ""),                                       # blank: no request at all
    ])
    yield con
    con.close()


def test_openai_backend_retries_429_timeouts_and_garbage_and_sums_tokens(
        chat_warehouse, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_LLM_MODEL", "test-model")
    monkeypatch.setenv("WORKBENCH_LLM_API_KEY", "sk-test")
    with ChatServer() as server:
        monkeypatch.setenv("WORKBENCH_LLM_BASE_URL", server.url)
        report = run_step(chat_warehouse, tmp_path, backend="openai", timeout=0.5,
                          backoff=0.01, max_concurrency=2)

    assert report.rows == 6
    assert report.metrics["calls"] == 5                          # 6 messages, 5 distinct texts
    assert report.metrics["requests"] == 4 + 3                   # 4 texts sent, 3 retried
    assert report.metrics["retries"] == 3
    # Tokens of every answer, the malformed one included: it was paid for too.
    assert report.metrics["tokens"] == 5 * ChatServer.TOKENS
    assert 429 in server.statuses
    assert server.attempts["Can the scheduler send alerts to Slack? [slow]"] == 2
    assert server.attempts["Is there a dark mode? [garbage]"] == 2
    written = labels(chat_warehouse)
    assert written["1.000001"][0] == "question" and written["1.000002"][0] == "other"
    assert written["1.000006"][:2] == ("other", 1.0)
    assert written["1.000001"][2].startswith(f"openai/test-model@{server.url}/prompt-")
    # Structured output: the labels are an enum in the JSON schema the server is given.
    schema = server.bodies[0]["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["label"]["enum"] == list(LABELS)
    assert schema["required"] == ["label", "confidence"]

    again = run_step(chat_warehouse, tmp_path, backend="openai", base_url=server.url)
    assert (again.rows, again.metrics["calls"], again.metrics["tokens"]) == (0, 0, 0)


def test_openai_backend_keeps_to_its_concurrency_limit(tmp_path):
    texts = [f"Question number {i}?" for i in range(24)]
    with ChatServer(delay=0.05) as server:
        clf = make_classifier({"backend": "openai", "base_url": server.url, "model": "m",
                               "max_concurrency": 3})
        predictions = clf.classify(texts)
    assert [p.label for p in predictions] == ["question"] * 24
    assert sum(p.tokens for p in predictions) == 24 * ChatServer.TOKENS
    assert server.max_in_flight == 3


def test_openai_backend_error_names_the_message_and_the_endpoint(tmp_path):
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    _stage(con, [("7.000001", "Hello"), ("7.000002", "This one breaks the server [fail]")])
    with ChatServer() as server:
        with pytest.raises(ClassifierError) as caught:
            run_step(con, tmp_path, backend="openai", base_url=server.url, model="m",
                     max_retries=2, backoff=0.01)
    error = caught.value
    assert error.message_id == "7.000002"
    assert error.endpoint == f"{server.url}/chat/completions"
    assert error.attempts == 3 and error.status == 500
    assert "7.000002" in str(error) and server.url in str(error)
    assert "This one breaks the server" in str(error)
    assert server.attempts["This one breaks the server [fail]"] == 3
    assert pickle.loads(pickle.dumps(error)).message_id == "7.000002"   # crosses processes
    con.close()


def test_openai_backend_with_on_error_skip_keeps_what_worked(tmp_path):
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    _stage(con, [("8.000001", "Can I export to Excel?"), ("8.000002", "Broken text [fail]"),
                 ("8.000003", "Hello all")])
    with ChatServer() as server:
        options = {"backend": "openai", "base_url": server.url, "model": "m",
                   "max_retries": 1, "backoff": 0.01, "on_error": "skip"}
        report = run_step(con, tmp_path, **options)
        assert (report.rows, report.metrics["failed"], report.metrics["calls"]) == (2, 1, 3)
        assert "8.000002" in report.message and "failed" in report.message
        assert sorted(labels(con)) == ["8.000001", "8.000003"]

        again = run_step(con, tmp_path, **options)          # only the failed one is retried
        assert (again.rows, again.metrics["failed"], again.metrics["calls"]) == (0, 1, 1)
    con.close()


def test_openai_backend_fails_at_once_on_a_refused_request(tmp_path):
    class Refusing(ChatServer):
        def handle(self, h):
            h.rfile.read(int(h.headers["Content-Length"]))
            with self.lock:
                self.attempts["any"] += 1
            self.send(h, 401, {"error": {"message": "invalid api key"}})

    with Refusing() as server:
        clf = make_classifier({"backend": "openai", "base_url": server.url, "model": "m",
                               "backoff": 0.01})
        with pytest.raises(ClassifierError, match="HTTP 401: .*invalid api key"):
            clf.classify(["Hello?"])
    assert server.attempts["any"] == 1
