"""Pipeline benchmark: the whole community pipeline end to end, next to the same work by hand.

    .venv/bin/python benchmarks/pipeline.py --scale 1      # 100,000 events, 10,000 messages
    .venv/bin/python benchmarks/pipeline.py --scale 100    # ~10M events, ~1M messages

One process, in a throwaway copy of the repo's project (``workbench.toml`` and ``dbt/``, data
from ``demo.generate(root, scale=S)``), after a warm-up run on a tiny project so that imports,
Prefect's temporary server, dbt and the classifier's model are warm (as in ``core.py``):

(1) ``full``: the first ``Workbench(root).run()``: every load, every dbt node, the
    ``classify_messages`` step and both actions, plus publish; with where its time went, by
    node kind (from the RunResult's nodes) and by pipeline step (``core.StepTimer``);
(2) ``hand``: the same work in one script on a fresh DuckDB file, no workbench machinery:
    raw files read with ``read_csv/read_parquet/read_json`` (+ ``_loaded_at``,
    ``_source_file``), every seed and model's compiled SQL from ``target/manifest.json`` in
    dependency order (views and tables; ephemeral models are already inlined in their
    children), every test's query, the sklearn classifier called directly on the distinct
    texts into ``steps.message_labels`` between the two dbt layers, the messages rendered
    with the same Jinja templates and written as JSONL (their keys bulk-inserted into a
    ledger table), the mart exported to Parquet. Its marts must have the run's row counts;
(3) ``rerun_one_file``: one new ``community_messages`` file (100 new messages with new texts)
    and ``wb.run()``: which nodes ran, and a check that nothing built only from events, users
    or invoices ran;
(4) ``noop``: ``wb.run()`` with nothing changed;
(5) the classifier: messages/s inside the step (distinct texts are classified once) and raw
    texts/s, accuracy and macro-F1 of the labels the run wrote on ``data/labeled/``;
(6) peak memory.

Writes ``benchmarks/results/pipeline-<scale>.json`` and prints a table with pass/miss per
target. Only the standard library is imported at module level: ``core.isolate_environment``
must run before Prefect or dbt is imported.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import graphlib
import json
import os
import resource
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import core  # noqa: E402  (benchmarks/core.py: stdlib only at module level)
from core import REPO, RESULTS_DIR, seconds  # noqa: E402

NEW_MESSAGES = 100                   # (3): messages in the one new file
NEW_FILE = "community_messages/2026-11.jsonl"   # the month after the demo's last
# Sources whose models must not run when only a community_messages file arrives.
UNRELATED_SOURCES = ("events", "users", "invoices")

# Targets: (label, key, passes, the scale the target is set at).
TARGETS = (
    ("rerun one file < 10% of full", "rerun_ratio", lambda r: r["rerun_ratio"] < 0.10, 10.0),
    ("full < 1.25 x hand", "overhead_ratio", lambda r: r["overhead_ratio"] < 1.25, 100.0),
    ("peak memory < 4 GiB", "peak_rss_mb", lambda r: r["peak_rss_mb"] < 4096, 100.0),
)


# --------------------------------------------------------------------------------------------
# Memory: the peak of the whole benchmark, and of each phase


class PhasePeaks:
    """Peak RSS of this process per phase, from /proc/self/status VmHWM.

    Writing "5" to /proc/self/clear_refs resets the high-water mark (Linux 4.0+), so each
    phase gets its own peak; where that is not allowed, every value is the running peak.
    The whole run's peak is ``getrusage`` (never reset).
    """

    def __init__(self) -> None:
        self.peaks: dict[str, float] = {}
        self.resettable = self._reset()

    def mark(self, phase: str) -> None:
        self.peaks[phase] = core._vm_hwm_mb(os.getpid())
        self._reset()

    @staticmethod
    def _reset() -> bool:
        try:
            Path("/proc/self/clear_refs").write_text("5")
            return True
        except OSError:
            return False


def descendants_peak_mb() -> float:
    """The sum of VmHWM of every live process we started (Prefect's temporary server)."""
    return round(sum(core._vm_hwm_mb(pid) for pid in core._process_tree(os.getpid())[1:]), 1)


# --------------------------------------------------------------------------------------------
# (1), (3), (4): the workbench


def timed_run(wb, label: str) -> tuple[float, Any, dict[str, Any]]:
    """One ``wb.run()``: seconds, the RunResult, and where the time went."""
    with core.StepTimer() as timer:
        took, result = seconds(wb.run)
    if not result.ok:
        details = "\n".join(f"  {n.kind} {n.name}: {n.message}" for n in result.failures)
        raise SystemExit(f"wb.run() ({label}) failed, so its time means nothing:\n"
                         f"{result.summary()}\n{details}")
    steps = timer.breakdown("x", took)
    steps = {k[2:-2] if k.endswith("_s") else k[2:]: v for k, v in steps.items()}
    return took, result, {"by_kind": by_kind(result, took), "by_step": steps,
                          "slowest_nodes": slowest(result)}


def by_kind(result, total: float) -> dict[str, dict[str, float]]:
    """Per node kind: nodes that ran, the sum of their seconds, and the wall time covered.

    Wall time is the union of the nodes' [started_at, finished_at]; a dbt node's interval is
    its whole ``dbt build`` batch (the scheduler stamps the batch's start and end), so the
    wall time of models and tests overlaps. ``outside_nodes`` is the run's time that no node
    covers: planning, scanning, Prefect's flow and tasks, recording and publishing.
    """
    out: dict[str, dict[str, float]] = {}
    every: list[tuple[float, float]] = []
    for kind in sorted({n.kind for n in result.nodes}):
        nodes = [n for n in result.nodes if n.kind == kind and n.status != "skipped"]
        spans = [(n.started_at.timestamp(), n.finished_at.timestamp()) for n in nodes
                 if n.started_at and n.finished_at]
        every += spans
        if nodes:
            out[kind] = {"nodes": len(nodes), "seconds_sum": round(sum(n.seconds for n in nodes), 3),
                         "wall_s": round(core._covered(spans), 3)}
    out["outside_nodes"] = {"wall_s": round(total - core._covered(every), 3)}
    return out


def slowest(result, n: int = 8) -> list[dict[str, Any]]:
    nodes = sorted((x for x in result.nodes if x.status != "skipped"), key=lambda x: -x.seconds)
    return [{"kind": x.kind, "name": x.name, "seconds": round(x.seconds, 3), "rows": x.rows}
            for x in nodes[:n]]


def write_new_messages(project: Path, wb) -> Path:
    """``NEW_MESSAGES`` messages in a new month's file, keyed as ``demo`` writes them.

    Texts are labeled-sample texts with a suffix, so each is new to the classifier's cache
    (the re-run pays for classification); authors are existing users; ids are Slack-style
    timestamps after the demo's last month.
    """
    from workbench.community import demo
    from workbench.community.classify import training

    path = project / "data" / "landing" / NEW_FILE
    if path.exists():
        raise SystemExit(f"{path} exists: the demo now writes that month; pick another")
    sample = training.read_jsonl(project / demo.LABELED_PATH)
    users = [u for u, in wb.sql("select user_id from stg_users order by user_id "
                                 "limit 50").itertuples(index=False)]
    start = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)
    lines = []
    for i in range(NEW_MESSAGES):
        ts_us = int(start.timestamp() * 1_000_000) + i * 37_000_123
        seconds_, micros = divmod(ts_us, 1_000_000)
        iso = datetime.fromtimestamp(ts_us / 1_000_000, timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%S.%f")
        record = sample[(i * 97) % len(sample)]
        lines.append(json.dumps({
            "message_id": f"{seconds_}.{micros:06d}",
            "channel": demo.CHANNELS[i % len(demo.CHANNELS)],
            "user_id": int(users[i % len(users)]), "ts": iso, "thread_id": None,
            "text": f"{record['text']} (November follow-up {i})"}, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def check_rerun(wb, result) -> tuple[list[str], list[str]]:
    """What ran (non-test nodes as ``kind:name``, tests counted), and what should not have.

    Should not have: a source, seed, model, step or action that is not downstream of
    ``source:community_messages`` (built only from events, users, invoices and seeds).
    """
    graph = wb.graph()
    downstream = graph.downstream("source:community_messages") | {"source:community_messages"}
    unrelated = {(node.kind, node.name) for node_id, node in graph.nodes.items()
                 if node_id not in downstream and node.kind != "test"}
    ran = [n for n in result.nodes if n.status != "skipped"]
    names = [f"{n.kind}:{n.name}" for n in ran if n.kind != "test"]
    tests = sum(n.kind == "test" for n in ran)
    if tests:
        names.append(f"tests:{tests}")
    wrong = sorted(f"{n.kind}:{n.name}" for n in ran if (n.kind, n.name) in unrelated)
    return names, wrong


# --------------------------------------------------------------------------------------------
# (2) the same work by hand


def hand_run(project: Path, hand_dir: Path) -> dict[str, Any]:
    """Everything ``wb.run()`` did, as one script on a fresh DuckDB file; see the docstring.

    The file has the warehouse's name, so that the catalog in dbt's compiled SQL
    (``"warehouse"."marts"...``) resolves to it unchanged.
    """
    import duckdb

    from workbench.config import load_config

    config = load_config(project)
    # Incremental models as a first build compiles them (a fresh file has no {{ this }}).
    env = {**os.environ, "DO_NOT_TRACK": "1", "WORKBENCH_WAREHOUSE": str(config.warehouse)}
    core.run_child([str(core.DBT), "compile", "--full-refresh", "--project-dir",
                    str(project / "dbt"), "--profiles-dir", str(project / "dbt")], env)
    manifest = core._manifest(project)
    after = _after_steps(manifest)
    nodes = {uid: node for uid, node in manifest["nodes"].items()
             if node["resource_type"] in ("model", "seed")}
    tests = [node for node in manifest["nodes"].values() if node["resource_type"] == "test"]
    hand_dir.mkdir()
    con = duckdb.connect(str(hand_dir / config.warehouse.name))
    phases: dict[str, float] = {}
    out: dict[str, Any] = {}
    try:
        phases["load"], _ = seconds(lambda: core._load_raw(con, config))
        phases["models_before_step"], _ = seconds(lambda: _build(
            con, project / "dbt", nodes, [u for u in nodes if u not in after]))
        phases["tests_before_step"], failures = seconds(lambda: _tests(
            con, [t for t in tests if t["unique_id"] not in after]))
        phases["classify"], out["classify"] = seconds(lambda: _classify(con, config, manifest))
        phases["models_after_step"], _ = seconds(lambda: _build(
            con, project / "dbt", nodes, [u for u in nodes if u in after]))
        phases["tests_after_step"], failures_after = seconds(lambda: _tests(
            con, [t for t in tests if t["unique_id"] in after]))
        phases["messages"], out["messages_written"] = seconds(
            lambda: _messages(con, project, config, manifest, hand_dir))
        phases["export"], out["export_rows"] = seconds(
            lambda: _export(con, config, manifest, hand_dir))
        out["test_failures"] = failures + failures_after
        out["mart_rows"] = core._mart_rows(con)
    finally:
        con.close()
    out["phases"] = {k: round(v, 3) for k, v in phases.items()}
    out["seconds"] = sum(phases.values())
    return out


def _after_steps(manifest: dict) -> set[str]:
    """Unique ids of every dbt node downstream of a step's output (a ``steps`` source)."""
    from workbench.steps import STEPS_SCHEMA

    todo = [uid for uid, s in manifest["sources"].items() if s["schema"] == STEPS_SCHEMA]
    seen: set[str] = set()
    while todo:
        for child in manifest["child_map"].get(todo.pop(), []):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def _build(con, dbt_dir: Path, nodes: dict, uids: list[str]) -> None:
    """These seeds and models in dependency order, as core._build_models materialises them."""
    wanted = set(uids)
    order = graphlib.TopologicalSorter(
        {uid: [d for d in nodes[uid]["depends_on"].get("nodes", []) if d in wanted]
         for uid in wanted}).static_order()
    for schema in {nodes[uid]["schema"] for uid in wanted}:
        con.execute(f'create schema if not exists "{schema}"')
    for uid in order:
        node = nodes[uid]
        if node["resource_type"] == "seed":
            con.execute(f"create or replace table {node['relation_name']} as "
                        f"select * from {core._seed_reader(dbt_dir, node)}")
        elif node["config"]["materialized"] != "ephemeral":
            kind = "view" if node["config"]["materialized"] == "view" else "table"
            con.execute(f"create or replace {kind} {node['relation_name']} as "
                        f"{node['compiled_code']}")


def _tests(con, tests: list[dict]) -> int:
    return sum(con.execute(f"select count(*) from ({t['compiled_code']}) as dbt_internal_test"
                           ).fetchall()[0][0] for t in tests)


def _relation(manifest: dict, name: str) -> str:
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and node["name"] == name:
            return node["relation_name"]
    raise KeyError(name)


def _classify(con, config, manifest: dict) -> dict[str, Any]:
    """The classifier on each distinct text, the labels joined back to every message."""
    import pyarrow as pa

    from workbench.community.classify import make_classifier
    from workbench.steps import STEPS_SCHEMA

    step = next(s for s in config.steps if s.name == "classify_messages")
    source = _relation(manifest, step.inputs[0])
    clf = make_classifier({"backend": "sklearn"})
    texts = con.sql(f"select distinct coalesce(text, '') as text from {source}"
                    ).to_arrow_table().column("text").to_pylist()
    took, predictions = seconds(lambda: clf.classify(texts))
    labels = pa.table({"text": texts, "label": [p.label for p in predictions],
                       "confidence": [p.confidence for p in predictions]})
    con.register("hand_labels", labels)
    con.execute(f'create schema if not exists "{STEPS_SCHEMA}"')
    con.execute(f"""
        create or replace table "{STEPS_SCHEMA}"."{step.output}" as
        select m.message_id, l.label, l.confidence, ? as classifier, ? as step_version,
               current_timestamp::timestamp as labeled_at, sha256(l.text) as text_sha256
        from {source} m join hand_labels l on coalesce(m.text, '') = l.text""",
                [clf.identity, step.version])
    con.unregister("hand_labels")
    return {"distinct_texts": len(texts), "classify_s": round(took, 3),
            "texts_per_s": round(len(texts) / took, 1) if took else 0.0}


def _messages(con, project: Path, config, manifest: dict, hand_dir: Path) -> int:
    """Render one message per (user, campaign, period) and write them as one JSONL file.

    The same rules as the action: the first row per key in (feature_key, question_text)
    order, rows without an e-mail skipped; the keys go to a ledger in one insert.
    """
    from dataclasses import asdict

    import pyarrow as pa

    from workbench.community import messages as wm
    from workbench.delivery.ledger import COLUMNS as LEDGER_COLUMNS

    action = next(a for a in config.actions if a.name == "personalized_messages")
    result = con.sql(f"select * from {_relation(manifest, action.inputs[0])} "
                     f"order by user_id, campaign, period, feature_key, question_text")
    rows, seen = [], set()
    for values in result.fetchall():
        row = dict(zip(result.columns, values))
        if None in (row["user_id"], row["campaign"], row["period"]) or \
                not str(row["email"] or "").strip():
            continue
        key = wm.message_key(row["user_id"], row["campaign"], row["period"])
        if key not in seen:
            seen.add(key)
            rows.append({**row, "key": key})
    rendered = wm.render_messages(wm.template_environment(project), rows)
    outbox = hand_dir / "outbox" / "outbox-hand.jsonl"
    outbox.parent.mkdir()
    outbox.write_text("".join(json.dumps({**asdict(m), "channel": "outbox", "run_id": "hand"},
                                         ensure_ascii=False) + "\n" for m in rendered),
                      encoding="utf-8")
    con.execute(wm.LEDGER_SQL)
    ledger = pa.table({"key": [m.key for m in rendered], "user_id": [m.user_id for m in rendered],
                       "email": [m.email for m in rendered],
                       "campaign": [m.campaign for m in rendered],
                       "period": [m.period for m in rendered],
                       "subject": [m.subject for m in rendered],
                       "body": [m.body for m in rendered]})
    con.register("hand_ledger", ledger)
    con.execute(f"""insert into {wm.LEDGER} ({', '.join(LEDGER_COLUMNS)})
                    select key, user_id, email, campaign, period,
                    'outbox', 'sent', 1, null, subject, body, now()::timestamp,
                    now()::timestamp, 'hand' from hand_ledger""")
    con.unregister("hand_ledger")
    return len(rendered)


def _export(con, config, manifest: dict, hand_dir: Path) -> int:
    action = next(a for a in config.actions if a.name == "export_user_engagement")
    path = core.literal(str(hand_dir / "exports" / f"{action.inputs[0]}.parquet"))
    (hand_dir / "exports").mkdir()
    return con.execute(f"copy (select * from {_relation(manifest, action.inputs[0])}) "
                       f"to {path} (format parquet)").fetchall()[0][0]


# --------------------------------------------------------------------------------------------
# (5) the classifier's quality


def classifier_quality(project: Path, wb) -> dict[str, Any]:
    """Accuracy and macro-F1 of the labels the run wrote, on the labeled sample."""
    import classifier   # benchmarks/classifier.py

    from workbench.community import demo
    from workbench.community.classify import training

    sample = training.read_jsonl(project / demo.LABELED_PATH)
    written = dict(wb.sql("select message_id, label from steps.message_labels")
                   .itertuples(index=False))
    missing = sum(r["message_id"] not in written for r in sample)
    scored = classifier.quality([r["label"] for r in sample],
                                [written.get(r["message_id"], "") for r in sample])
    return {**scored, "missing": missing}


# --------------------------------------------------------------------------------------------
# The report


def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {**core.versions(), "scikit-learn": version("scikit-learn"),
            "jinja2": version("jinja2")}


def judge(r: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {label: {"value": round(r[key], 4), "pass": bool(passes(r)),
                    "binding": at == r["scale"], "set_at_scale": at}
            for label, key, passes, at in TARGETS}


def print_report(r: dict[str, Any]) -> None:
    print(f"\nworkbench pipeline benchmark: scale {r['scale']:g} ({r['events']:,} events, "
          f"{r['messages']:,} messages)")
    rows = [
        ("(1) full wb.run(), warm process", f"{r['full_run_s']:8.2f} s"),
        ("(2) the same work by hand", f"{r['hand_run_s']:8.2f} s"),
        ("    overhead full / hand", f"{r['overhead_ratio']:8.2f} x"),
        ("    the same, actions left out of both", f"{r['overhead_ratio_without_actions']:8.2f} x"),
        ("(3) re-run with one new messages file", f"{r['rerun_one_file_s']:8.2f} s"),
        ("    re-run / full", f"{r['rerun_ratio']:8.3f}"),
        ("    the same, actions left out of both", f"{r['rerun_ratio_without_actions']:8.3f}"),
        ("(4) re-run with nothing new", f"{r['noop_s']:8.2f} s"),
        ("(5) classify step, messages/s", f"{r['classifier_msgs_per_s']:10,.0f}"),
        ("    raw classifier, distinct texts/s", f"{r['classifier_texts_per_s']:10,.0f}"),
        ("    accuracy / macro-F1 on data/labeled", f"{r['accuracy']:.4f} / {r['macro_f1']:.4f}"),
        ("(6) peak RSS, self + children", f"{r['peak_rss_mb']:8.0f} MB"),
    ]
    for label, value in rows:
        print(f"  {label:<44} {value}")
    b = r["breakdown"]
    print("  full, by kind (wall s): " + ", ".join(
        f"{k} {v['wall_s']:.2f}" for k, v in b["full"]["by_kind"].items()))
    print("  full, by step (s): " + ", ".join(
        f"{k} {v:.2f}" for k, v in b["full"]["by_step"].items() if isinstance(v, float)))
    print("  hand (s): " + ", ".join(f"{k} {v:.2f}" for k, v in b["hand"].items()))
    print("  re-run, by kind (wall s): " + ", ".join(
        f"{k} {v['wall_s']:.2f}" for k, v in b["rerun_one_file"]["by_kind"].items()))
    print(f"  re-run ran: {', '.join(r['nodes_rerun'])}")
    print(f"  marts match the run: {r['hand_matches_run']}; phase peaks (MB): "
          f"{r['phase_peak_rss_mb']}")
    print("targets:")
    for label, v in r["targets"].items():
        verdict = "pass" if v["pass"] else "MISS"
        note = "" if v["binding"] else f"  (set at scale {v['set_at_scale']:g}; not binding)"
        print(f"  {label:<32} {v['value']:10.3f}  {verdict}{note}")


# --------------------------------------------------------------------------------------------
# Main


def benchmark(scale: float, workdir: Path) -> dict[str, Any]:
    from workbench import Workbench

    r: dict[str, Any] = {"scale": scale,
                         "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                         "code": core.measured_code()}    # its git child is tiny: before all
    peaks = PhasePeaks()
    r["warm_up_s"] = round(core.warm_up(workdir), 2)
    r["generate_s"], project = seconds(lambda: core.make_project(workdir / "project",
                                                                  scale=scale))
    peaks.mark("warm_up_and_generate")
    wb = Workbench(project)

    r["full_run_s"], full, full_breakdown = timed_run(wb, "full")
    peaks.mark("full")
    rows = {n.name: n.rows for n in full.nodes if n.kind == "source"}
    r["events"], r["messages"] = rows["events"], rows["community_messages"]
    step = full.node("classify_messages").metrics or {}
    published = core._published_mart_rows(wb)

    hand = hand_run(project, workdir / "hand")
    peaks.mark("hand")
    r["hand_run_s"] = hand["seconds"]
    r["hand_matches_run"] = hand["mart_rows"] == published
    r["mart_rows"] = published
    if not r["hand_matches_run"]:
        r["hand_mart_rows"] = hand["mart_rows"]
    sent = (full.node("personalized_messages").metrics or {}).get("sent")
    r["messages_sent"] = {"run": sent, "hand": hand["messages_written"]}
    r["hand_test_failures"] = hand["test_failures"]

    write_new_messages(project, wb)
    r["rerun_one_file_s"], rerun, rerun_breakdown = timed_run(wb, "rerun_one_file")
    peaks.mark("rerun_one_file")
    r["nodes_rerun"], wrong = check_rerun(wb, rerun)
    r["rerun_unrelated_nodes_ran"] = wrong
    assert not wrong, f"a new community_messages file re-ran unrelated nodes: {wrong}"
    r["rerun_classify"] = rerun.node("classify_messages").metrics

    r["noop_s"], noop, noop_breakdown = timed_run(wb, "noop")
    r["noop_notes"] = list(noop.notes)

    r["classifier_msgs_per_s"] = step.get("messages_per_s", 0.0)
    r["classifier_texts_per_s"] = step.get("classifier_texts_per_s", 0.0)
    r["classifier_step"] = step
    r["classifier_hand"] = hand["classify"]
    quality = classifier_quality(project, wb)
    r["accuracy"], r["macro_f1"] = quality.get("accuracy"), quality.get("macro_f1")
    r["labeled_sample"] = quality
    peaks.mark("after")

    # clear_refs also resets getrusage's ru_maxrss: the process's peak is the largest phase's.
    self_mb = max(core.peak_rss_mb(resource.RUSAGE_SELF), *peaks.peaks.values())
    children_mb = core.peak_rss_mb(resource.RUSAGE_CHILDREN)
    live_mb = descendants_peak_mb()
    r["peak_rss_self_mb"] = self_mb
    r["peak_rss_children_rusage_mb"] = children_mb
    r["prefect_server_peak_rss_mb"] = live_mb
    r["peak_rss_mb"] = round(self_mb + max(children_mb, live_mb), 1)
    r["workbench_peak_rss_mb"] = round(max(peaks.peaks["full"], peaks.peaks["rerun_one_file"])
                                       + live_mb, 1)
    r["phase_peak_rss_mb"] = peaks.peaks
    r["phase_peaks_reset"] = peaks.resettable

    r["overhead_ratio"] = r["full_run_s"] / r["hand_run_s"]
    r["rerun_ratio"] = r["rerun_one_file_s"] / r["full_run_s"]
    # The same ratios without the actions (both sides), to show what the rest costs.
    full_actions = full_breakdown["by_kind"].get("action", {}).get("wall_s", 0.0)
    rerun_actions = rerun_breakdown["by_kind"].get("action", {}).get("wall_s", 0.0)
    hand_actions = hand["phases"]["messages"] + hand["phases"]["export"]
    r["overhead_ratio_without_actions"] = ((r["full_run_s"] - full_actions)
                                           / (r["hand_run_s"] - hand_actions))
    r["rerun_ratio_without_actions"] = ((r["rerun_one_file_s"] - rerun_actions)
                                        / (r["full_run_s"] - full_actions))
    r["breakdown"] = {"full": full_breakdown, "hand": hand["phases"],
                      "rerun_one_file": rerun_breakdown, "noop": noop_breakdown}
    r["versions"] = versions()
    r["targets"] = judge(r)
    return r


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0,
                        help="demo data scale: 1 = 100,000 events (default: %(default)s)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary projects (path printed) for inspection")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix=f"workbench-bench-pipeline-{args.scale:g}-"))
    if args.keep:
        print(f"working in {workdir}")
    else:   # registered before Prefect starts its server, so it runs after the server stops
        atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    core.isolate_environment(workdir)
    with contextlib.redirect_stdout(sys.stderr):   # keep stdout for the report
        report = benchmark(args.scale, workdir)
    print_report(report)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / f"pipeline-{args.scale:g}.json"
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
