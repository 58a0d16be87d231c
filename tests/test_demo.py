"""The sample company's generator: deterministic, and in step with the dbt seed."""

from __future__ import annotations

import csv

from conftest import REPO

from workbench import demo


def test_features_seed_matches_the_generator():
    with open(REPO / "dbt" / "seeds" / "features.csv", newline="") as handle:
        keys = [row["feature_key"] for row in csv.DictReader(handle)]
    assert keys == list(demo.FEATURE_KEYS)


def test_same_scale_and_seed_give_identical_files(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    demo.generate(a, scale=0.02)
    demo.generate(b, scale=0.02)
    files = sorted(p.relative_to(a) for p in (a / "data").rglob("*") if p.is_file())
    assert files and all((a / f).read_bytes() == (b / f).read_bytes() for f in files)


def test_labeled_sample_is_kept_apart_from_the_landing_files(tmp_path):
    demo.generate(tmp_path, scale=0.02)
    assert (tmp_path / demo.LABELED_PATH).is_file()
    assert not list((tmp_path / "data" / "landing").rglob("*labeled*"))
