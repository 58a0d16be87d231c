"""The pipeline benchmark's baseline (2): everything ``wb.run()`` does, by hand.

One script on a fresh DuckDB file with no workbench machinery: raw files read with
``read_csv/read_parquet/read_json`` (+ ``_loaded_at``, ``_source_file``), every seed and
model's compiled SQL from ``target/manifest.json`` in dependency order (views and tables;
ephemeral models are already inlined in their children), every test's query, the sklearn
classifier called directly on the distinct texts into ``steps.message_labels`` between the
two dbt layers, the messages rendered with the same Jinja templates and written as JSONL
(their keys bulk-inserted into a ledger table), the mart exported to Parquet.

Used by ``benchmarks/pipeline.py``; stdlib only at module level (``core.isolate_environment``
must run before Prefect or dbt is imported).
"""

from __future__ import annotations

import graphlib
import json
import os
from pathlib import Path
from typing import Any

import core  # benchmarks/core.py
from core import seconds


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

