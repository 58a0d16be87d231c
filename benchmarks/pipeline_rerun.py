"""The pipeline benchmark's re-run (3): one new messages file, what ran, and the floor.

``write_new_messages`` lands one new ``community_messages`` file, ``check_rerun`` says what
the re-run ran and whether anything unrelated ran, and ``rerun_floor`` measures, in the same
process and run, the least such a re-run can cost here: the dbt invocations its graph forces
(dbt before a step and dbt after it cannot share one) times one warm in-process ``dbt
build`` of a single view, plus the re-run's own classifier and action time.

Used by ``benchmarks/pipeline.py``; stdlib only at module level.
"""

from __future__ import annotations

import json
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

NEW_MESSAGES = 100                   # messages in the one new file
NEW_FILE = "community_messages/2026-11.jsonl"   # the month after the demo's last
FLOOR_VIEW = "stg_community_messages"    # the one view whose warm build is the unit cost
FLOOR_ROUNDS = 3


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



def forced_invocations(graph, result) -> int:
    """The fewest ``dbt build`` invocations the re-run's graph allows.

    dbt nodes that ran with a different number of steps upstream of them (among the nodes
    that ran) cannot share an invocation: the step must run between them. Nodes with the same
    number can, so that number of distinct counts is the floor.
    """
    return len(forced_groups(graph, result))


def forced_groups(graph, result) -> list[list[str]]:
    """The names of the dbt nodes the re-run ran (passed-through views left out), one list
    per invocation the graph forces (see ``forced_invocations``), in running order."""
    by_name = {(node.kind, node.name): node_id for node_id, node in graph.nodes.items()}
    ran = {by_name[(n.kind, n.name)] for n in result.nodes
           if n.status != "skipped" and (n.kind, n.name) in by_name}
    steps_above: dict[str, int] = {}
    for node_id in graph.order(ran):
        steps_above[node_id] = max((steps_above[p] + (graph.nodes[p].kind == "step")
                                    for p in graph.parents[node_id] if p in ran), default=0)
    built = {(n.kind, n.name) for n in result.nodes
             if n.status != "skipped" and not (n.message or "").startswith("not rebuilt")}
    groups: dict[int, list[str]] = {}
    for node_id in ran:
        node = graph.nodes[node_id]
        if node.is_dbt and (node.kind, node.name) in built:
            groups.setdefault(steps_above[node_id], []).append(node.name)
    return [sorted(groups[depth]) for depth in sorted(groups)]


def rerun_dbt_floor(wb, result) -> dict[str, Any]:
    """What dbt alone takes for the very nodes the re-run built and tested, in the fewest
    invocations the graph allows, warm, in this process (no plan, ledger, Prefect or step):
    with the re-run's steps and actions, the least this re-run can cost with dbt doing its
    nodes, per-node work included (``rerun_floor`` counts one view per invocation only)."""
    pipeline = wb.pipeline
    groups = forced_groups(wb.graph(), result)
    took = []
    with pipeline.warehouse.writing():
        for names in groups:
            started = time.perf_counter()
            nodes = pipeline.dbt.build(names, exact=True)
            took.append(time.perf_counter() - started)
            failed = [n for n in nodes if n.status not in ("success", "skipped")]
            if failed:
                raise SystemExit(f"the dbt floor's build failed: {failed}")
    return {"groups": groups, "invocations_s": [round(t, 3) for t in took],
            "dbt_s": round(sum(took), 3)}


def rerun_floor(wb, result) -> dict[str, Any]:
    """The least the re-run could cost here, measured now, in this warm process.

    The forced invocations (``forced_invocations``) times the median of ``FLOOR_ROUNDS`` warm
    in-process ``dbt build``s of ``FLOOR_VIEW`` alone (the workbench's own dbt call, under the
    warehouse's write lock: no plan, no ledger, no Prefect), plus the seconds the re-run's
    steps and actions took themselves (the classifier on the new texts, the delivery).
    """
    pipeline = wb.pipeline
    times = []
    with pipeline.warehouse.writing():
        for _ in range(FLOOR_ROUNDS):
            started = time.perf_counter()
            nodes = pipeline.dbt.build([FLOOR_VIEW], exact=True)
            times.append(time.perf_counter() - started)
            if [n.status for n in nodes] != ["success"]:
                raise SystemExit(f"the floor's build of {FLOOR_VIEW} failed: {nodes}")
    invocations = forced_invocations(wb.graph(), result)
    view_s = statistics.median(times)
    step_s = sum(n.seconds for n in result.nodes if n.kind == "step" and n.status != "skipped")
    action_s = sum(n.seconds for n in result.nodes
                   if n.kind == "action" and n.status != "skipped")
    return {"dbt_invocations_forced": invocations, "one_view_build_s": round(view_s, 3),
            "one_view_build_rounds_s": [round(t, 3) for t in times],
            "steps_s": round(step_s, 3), "actions_s": round(action_s, 3),
            "floor_s": round(invocations * view_s + step_s + action_s, 3)}
