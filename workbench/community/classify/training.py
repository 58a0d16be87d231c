"""The labeled training set that ships with the package, and how it is rebuilt.

``training.jsonl`` (next to this file) is what the ``sklearn`` backend learns from: one JSON
object per line, ``{"text": ..., "label": ..., "source": ...}``. It is made of

* the sample company's chat generator (:func:`workbench.community.demo.generate`) run with
  :data:`TRAINING_SEED`, never the demo's default seed 42, so that the evaluation sample a
  project writes to ``data/labeled/`` is not what the model was trained on (the generator's
  templates are shared, so many short texts still recur: ``benchmarks/classifier.py`` reports
  accuracy on unseen texts separately);
* ``handwritten.jsonl``: examples phrased unlike the generator's templates.

Rebuild it after changing either (the classifier's identity follows the file's hash, so every
project relabels its messages on the next run)::

    .venv/bin/python -m workbench.community.classify.training
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from workbench.community import demo
from workbench.community.labels import LABELS

HERE = Path(__file__).resolve().parent
TRAINING_PATH = HERE / "training.jsonl"
HANDWRITTEN_PATH = HERE / "handwritten.jsonl"
TRAINING_SEED = 20260          # anything but the demo's 42
TRAINING_SCALE = 1.0           # 10,000 messages, about 4,000 distinct texts


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def build_training_set() -> list[dict]:
    """The training records, deterministically: generated texts first, then hand-written.

    Each distinct text appears once (the generator repeats short replies thousands of times;
    keeping the repeats would teach the model the generator's frequencies, not language).
    """
    with tempfile.TemporaryDirectory(prefix="workbench-training-") as tmp:
        demo.generate(Path(tmp), scale=TRAINING_SCALE, seed=TRAINING_SEED)
        generated = read_jsonl(Path(tmp) / demo.LABELED_PATH)
    records: dict[str, dict] = {}
    for row in generated:
        records.setdefault(row["text"], {"text": row["text"], "label": row["label"],
                                         "source": f"demo-seed-{TRAINING_SEED}"})
    for row in read_jsonl(HANDWRITTEN_PATH):
        if row["label"] not in LABELS:
            raise ValueError(f"{HANDWRITTEN_PATH.name}: unknown label {row['label']!r} for "
                             f"{row['text']!r}; use one of {LABELS}")
        records[row["text"]] = {"text": row["text"], "label": row["label"], "source": "hand"}
    return list(records.values())


def render(records: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def main() -> None:
    records = build_training_set()
    TRAINING_PATH.write_text(render(records), encoding="utf-8")
    print(f"wrote {len(records)} examples to {TRAINING_PATH}")


if __name__ == "__main__":
    main()
