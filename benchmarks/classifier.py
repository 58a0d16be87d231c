"""Classifier benchmark: how fast the default backend labels messages, and how well.

    .venv/bin/python benchmarks/classifier.py --scale 1      # 10,000 messages
    .venv/bin/python benchmarks/classifier.py --scale 100    # 1,000,000 messages

At ``--scale`` the sample company's data is generated into a temp dir (``demo.generate``, the
demo's seed 42, which the model never trained on) and its messages are staged in a DuckDB
file, as the dbt model ``stg_community_messages`` would stage them. Then:

(a) the ``classify_messages`` step, first run: every message labeled (distinct texts are
    classified once, the rest come from the cache); messages/s end to end;
(b) the step again with nothing new: the price of an incremental no-op;
(c) the raw classifier on every message's text, duplicates included: texts/s, what a
    million fresh, all-different messages would cost;
(d) quality on the labeled sample ``data/labeled/community_messages_labeled.jsonl``,
    read from what the step wrote: accuracy and macro-F1, on all of it and on the texts that
    do not occur verbatim in the training set (the demo's templates are shared, so many
    short texts recur);
(e) quality off the templates: 5-fold cross-validation over the hand-written examples
    (trained on the generated examples plus the other folds), a fairer guess at real chat.

Writes ``benchmarks/results/classifier-<scale>.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
RESULTS_DIR = REPO / "benchmarks" / "results"

import duckdb  # noqa: E402

from workbench.community import demo  # noqa: E402
from workbench.community.classify import classify_messages, make_classifier  # noqa: E402
from workbench.community.classify import local, training  # noqa: E402
from workbench.steps import StepContext  # noqa: E402


def stage(root: Path, con: duckdb.DuckDBPyConnection) -> int:
    landing = root / "data" / "landing" / "community_messages"
    con.execute("create schema if not exists staging")
    con.execute(f"""
        create table staging.stg_community_messages as
        select cast(message_id as varchar) as message_id, cast(channel as varchar) as channel,
               cast(text as varchar) as text
        from read_json_auto('{landing}/*.jsonl')""")
    return con.execute("select count(*) from staging.stg_community_messages").fetchall()[0][0]


def run_step(con: duckdb.DuckDBPyConnection, root: Path):
    ctx = StepContext(name="classify_messages", run_id="bench", con=con, options={},
                      inputs={"stg_community_messages": '"staging"."stg_community_messages"'},
                      output='"steps"."message_labels"', root=root,
                      log=logging.getLogger("bench"))
    started = time.perf_counter()
    report = classify_messages(ctx)
    return report, time.perf_counter() - started


def quality(truth: list[str], predicted: list[str]) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    if not truth:
        return {"n": 0}
    return {"n": len(truth), "accuracy": round(accuracy_score(truth, predicted), 4),
            "macro_f1": round(f1_score(truth, predicted, average="macro"), 4)}


def handwritten_cv(folds: int = 5) -> dict:
    records = training.read_jsonl(training.TRAINING_PATH)
    generated = [r for r in records if r["source"] != "hand"]
    hand = [r for r in records if r["source"] == "hand"]
    predicted: list[str] = [""] * len(hand)
    for k in range(folds):
        train = generated + [r for i, r in enumerate(hand) if i % folds != k]
        model = local._build_pipeline(local.PARAMS)
        model.fit([r["text"] for r in train], [r["label"] for r in train])
        held = [i for i in range(len(hand)) if i % folds == k]
        for i, label in zip(held, model.predict([hand[i]["text"] for i in held])):
            predicted[i] = str(label)
    return quality([r["label"] for r in hand], predicted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--no-cv", action="store_true", help="skip (e)")
    args = parser.parse_args()
    out: dict = {"scale": args.scale, "python": platform.python_version(),
                 "cpus": os.cpu_count(),
                 "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}

    with tempfile.TemporaryDirectory(prefix="workbench-bench-classify-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        demo.generate(root, scale=args.scale)
        con = duckdb.connect(str(root / "warehouse.duckdb"))
        n = stage(root, con)
        out["messages"] = n
        out["setup_s"] = round(time.perf_counter() - t0, 2)
        print(f"scale {args.scale:g}: {n:,} messages staged in {out['setup_s']} s")

        t0 = time.perf_counter()
        clf = make_classifier({})
        clf.labels                     # train (or load) now, so that (a) measures labeling
        out["model_load_or_train_s"] = round(time.perf_counter() - t0, 2)
        out["classifier"] = clf.identity

        report, seconds = run_step(con, root)
        out["a_first_run"] = {"seconds": round(seconds, 2), **report.metrics}
        print(f"(a) first run: {report.rows:,} labeled in {seconds:.1f} s = "
              f"{report.rows / seconds:,.0f} messages/s ({report.metrics['calls']:,} distinct "
              f"texts classified at {report.metrics['classifier_texts_per_s']:,.0f}/s)")

        report2, seconds2 = run_step(con, root)
        out["b_noop_run"] = {"seconds": round(seconds2, 3), **report2.metrics}
        print(f"(b) re-run: {report2.rows} labeled, {report2.metrics['calls']} calls, "
              f"{seconds2:.2f} s")

        texts = [t for (t,) in con.execute(
            "select text from staging.stg_community_messages").fetchall()]
        t0 = time.perf_counter()
        clf.classify(texts)
        raw_s = time.perf_counter() - t0
        out["c_raw"] = {"texts": len(texts), "seconds": round(raw_s, 2),
                        "messages_per_s": round(len(texts) / raw_s, 1)}
        print(f"(c) raw classifier, duplicates included: {len(texts):,} texts in {raw_s:.1f} s "
              f"= {len(texts) / raw_s:,.0f} messages/s")

        sample = training.read_jsonl(root / demo.LABELED_PATH)
        written = dict(con.execute("select message_id, label from steps.message_labels")
                       .fetchall())
        seen = {r["text"] for r in training.read_jsonl(training.TRAINING_PATH)}
        truth = [r["label"] for r in sample]
        predicted = [written[r["message_id"]] for r in sample]
        unseen = [i for i, r in enumerate(sample) if r["text"] not in seen]
        out["d_labeled_sample"] = quality(truth, predicted)
        out["d_unseen_texts"] = quality([truth[i] for i in unseen],
                                        [predicted[i] for i in unseen])
        print(f"(d) labeled sample: {out['d_labeled_sample']}; texts unseen in training: "
              f"{out['d_unseen_texts']}")
        con.close()

    if not args.no_cv:
        out["e_handwritten_cv"] = handwritten_cv()
        print(f"(e) off-template (hand-written, 5-fold CV): {out['e_handwritten_cv']}")
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(f"peak memory {out['peak_rss_mb']} MB")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"classifier-{args.scale:g}.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path.relative_to(REPO)}")


if __name__ == "__main__":
    main()
