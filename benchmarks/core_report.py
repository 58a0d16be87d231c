"""The core benchmark's report: ratios, targets judged, the printed table."""

from __future__ import annotations

from typing import Any

# Targets: (label, key in the report, how to read it, the size the target is set at or None).
TARGETS = (
    ("d under 0.5 s", "d_noop_s", lambda r: r["d_noop_s"] < 0.5, None),
    ("g under 0.3 dbt CLI", "g_over_cli", lambda r: r["g_over_cli"] <= 0.3, 100_000),
    ("a/c under 1.25", "a_over_c", lambda r: r["a_over_c"] < 1.25, 10_000_000),
    ("e within 10% of Arrow", "e_over_arrow", lambda r: r["e_over_arrow"] <= 1.10, None),
    ("f within b + 2 s", "f_minus_b_s", lambda r: r["f_minus_b_s"] <= 2.0, None),
)


def add_ratios(r: dict[str, Any]) -> None:
    r["a_over_b"] = r["a_run_s"] / r["b_dbt_cli_s"]
    r["a_without_steps_over_b"] = (r["a_run_s"] - r.get("a_steps_s", 0.0)) / r["b_dbt_cli_s"]
    r["a_over_c"] = r["a_run_s"] / r["c_duckdb_sql_s"]
    r["a_without_steps_over_c"] = (r["a_run_s"] - r.get("a_steps_s", 0.0)) / r["c_duckdb_sql_s"]
    r["e_over_arrow"] = r["e_table_s"] / r["e_arrow_s"]
    r["e_over_df"] = r["e_table_s"] / r["e_duckdb_df_s"]
    r["f_minus_b_s"] = r["f_fresh_process_s"] - r["b_dbt_cli_s"]
    import warm_build

    warm_build.add_ratios(r)


def judge_targets(r: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Pass or miss per target; a target set at another size is reported but not binding."""
    verdicts = {}
    for label, key, passes, at_rows in TARGETS:
        verdicts[label] = {"value": round(r[key], 4), "pass": bool(passes(r)),
                           "binding": at_rows is None or at_rows == r["rows"],
                           "set_at_rows": at_rows}
    return verdicts


def print_report(r: dict[str, Any]) -> None:
    print(f"\nworkbench core benchmark: {r['rows']:,} events (scale {r['scale']:g})"
          + ("" if r["actions"] else ", without the project's actions"))
    rows = [
        ("(a) wb.run(), warm process", r["a_run_s"]),
        ("(b) dbt build, CLI", r["b_dbt_cli_s"]),
        ("(c) plain DuckDB SQL (floor)", r["c_duckdb_sql_s"]),
        ("(d) wb.run(), nothing changed", r["d_noop_s"]),
        (f"(e) wb.table({r['e_table']!r}), {r['e_rows']:,} rows", r["e_table_s"]),
        ("    duckdb .df()", r["e_duckdb_df_s"]),
        ("    duckdb .to_arrow_table().to_pandas()", r["e_arrow_s"]),
        ("    its name lookup alone (warehouse.resolve)", r["e_resolve_s"]),
        ("(f) first wb.run(), fresh process", r["f_fresh_process_s"]),
        ("(g) warm build of every dbt node, wb.run()", r["g_workbench_s"]),
        ("    the same, InlineExecutor", r["g_workbench_inline_s"]),
        ("    dbt build --full-refresh, CLI", r["g_dbt_cli_s"]),
        ("    PrefectDbtRunner in a flow, warm", r.get("g_prefect_dbt_s") or float("nan")),
        ("    the workbench's dbt invocation alone", r["g_dbt_in_process_s"]),
        ("    a dbt invocation selecting nothing", r["g_dbt_nothing_s"]),
        ("    the SQL alone (c's models and tests)", r["g_sql_s"]),
    ]
    for label, value in rows:
        print(f"  {label:<52} {value:8.3f} s")
    for title, prefix in (("(a) breakdown", "a_"), ("(c) breakdown", "c_"),
                          ("(d) breakdown", "d_"), ("(f) breakdown", "f_")):
        parts = {k[len(prefix):-2]: v for k, v in r.items() if k.startswith(prefix)
                 and k.endswith("_s") and k not in {"a_run_s", "c_duckdb_sql_s", "d_noop_s",
                                                    "f_fresh_process_s", "f_minus_b_s"}}
        print(f"  {title}: " + ", ".join(f"{k} {v:.2f}" for k, v in parts.items()))
    print(f"  peak RSS (MB): this process {r['peak_rss_mb']:.0f}, dbt CLI "
          f"{r['b_peak_rss_mb']:.0f}, fresh process {r['f_peak_rss_mb']:.0f} + its Prefect "
          f"server {r['f_prefect_server_peak_rss_mb']:.0f}; RUSAGE_CHILDREN "
          f"{r['peak_rss_children_rusage_mb']:.0f} (includes ours: see peak_rss_mb())")
    print(f"  without Python steps and actions ({r.get('a_steps_s', 0.0):.2f} s of a): "
          f"a/b {r['a_without_steps_over_b']:.2f}, a/c {r['a_without_steps_over_c']:.2f}")
    print(f"  (g) over the dbt CLI {r['g_over_cli']:.2f} (inline {r['g_inline_over_cli']:.2f}, "
          f"dbt alone {r['g_dbt_in_process_over_cli']:.2f}), over PrefectDbtRunner "
          f"{r.get('g_over_prefect_dbt', float('nan')):.2f}; the workbench around dbt "
          f"{r['g_workbench_overhead_s']:.2f} s, Prefect {r['g_prefect_overhead_s']:.2f} s")
    busy = max(r["machine_busy_share_before"], r["other_cpu_share_during"])
    if busy > 0.15:
        print(f"  WARNING: other processes used {busy:.0%} of the CPUs around this run; "
              f"its times are inflated")
    print("targets:")
    for label, v in r["targets"].items():
        verdict = "pass" if v["pass"] else "MISS"
        note = "" if v["binding"] else f"  (set at {v['set_at_rows']:,} rows; not binding here)"
        print(f"  {label:<24} {v['value']:8.3f}  {verdict}{note}")
