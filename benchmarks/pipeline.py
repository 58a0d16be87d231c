"""Pipeline benchmark: the whole community pipeline end to end, next to the same work by hand.

    .venv/bin/python benchmarks/pipeline.py --scale 1      # 100,000 events, 10,000 messages
    .venv/bin/python benchmarks/pipeline.py --scale 100    # ~10M events, ~1M messages

One process, in a throwaway copy of the repo's project (``workbench.toml`` and ``dbt/``, data
from ``demo.generate(root, scale=S)``), after a warm-up run on a tiny project so that imports,
Prefect's temporary server, dbt and the classifier's model are warm (as in ``core.py``):

(1) ``full``: the first ``Workbench(root).run()``: every load, every dbt node, the
    ``classify_messages`` step and both actions, plus publish; with where its time went, by
    node kind (from the RunResult's nodes) and by pipeline step (``core.StepTimer``);
(2) ``hand``: the same work in one script on a fresh DuckDB file, no workbench machinery
    (``pipeline_hand.py``). Its marts must have the run's row counts;
(3) ``rerun_one_file``: one new ``community_messages`` file (100 new messages with new texts)
    and ``wb.run()``: which nodes ran, and a check that nothing built only from events, users
    or invoices ran; next to it the re-run's floor, measured in the same run
    (``pipeline_rerun.rerun_floor``): the dbt invocations its graph forces times one warm
    in-process ``dbt build`` of a single view, plus its classifier and action seconds, and
    ``floor / full`` beside ``rerun / full``;
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
from pipeline_hand import hand_run  # noqa: E402
from pipeline_rerun import (check_rerun, rerun_dbt_floor, rerun_floor,  # noqa: E402
                            write_new_messages)


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
        ("    floor / full (see below)", f"{r['rerun_floor_ratio']:8.3f}"),
        ("    re-run / floor", f"{r['rerun_over_floor']:8.2f} x"),
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
    f = r["rerun_floor"]
    print(f"  re-run floor {f['floor_s']:.2f} s = {f['dbt_invocations_forced']} dbt invocation(s) "
          f"forced x {f['one_view_build_s']:.2f} s (one view, warm) + steps {f['steps_s']:.2f} s "
          f"+ actions {f['actions_s']:.2f} s; the re-run made {r['rerun_dbt_invocations']}")
    d = r["rerun_dbt_floor"]
    print(f"  with dbt's per-node work: {d['floor_s']:.2f} s = {r['rerun_dbt_floor_ratio']:.3f} "
          f"of full (the re-run's {sum(map(len, d['groups']))} dbt nodes by dbt alone, "
          f"{' + '.join(f'{s:.2f}' for s in d['invocations_s'])} s, + steps + actions)")
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

    r["rerun_floor"] = rerun_floor(wb, rerun)
    r["rerun_dbt_floor"] = rerun_dbt_floor(wb, rerun)
    r["rerun_dbt_invocations"] = rerun_breakdown["by_step"]["dbt_invocations"]

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
    r["rerun_floor_ratio"] = r["rerun_floor"]["floor_s"] / r["full_run_s"]
    r["rerun_over_floor"] = r["rerun_one_file_s"] / r["rerun_floor"]["floor_s"]
    f = r["rerun_floor"]
    r["rerun_dbt_floor"]["floor_s"] = round(
        r["rerun_dbt_floor"]["dbt_s"] + f["steps_s"] + f["actions_s"], 3)
    r["rerun_dbt_floor_ratio"] = r["rerun_dbt_floor"]["floor_s"] / r["full_run_s"]
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
