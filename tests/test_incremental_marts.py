"""The incremental community models give the same rows as a full rebuild.

``int_message_topic_scan`` matches only new or changed messages on a re-run; the marts read
it. After each kind of change a re-run sees (a new messages file with a reply to an old
question, an edited file, a retracted file, a new keyword), every community model must equal,
row for row, what ``wb.run(full_refresh=True)`` builds from the same landing files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from workbench import Workbench

MODELS = ("int_message_topic_scan", "int_message_topics", "int_feature_suggestions",
          "community_questions", "feature_feedback", "recommendation_candidates")
MESSAGES = Path("data") / "landing" / "community_messages"


@pytest.fixture
def loaded(built_project, tmp_path) -> Path:
    root = tmp_path / "copy"
    shutil.copytree(built_project, root)
    return root


def snapshot(wb: Workbench) -> dict[str, pd.DataFrame]:
    """Every community model's rows, in a stable order."""
    frames = {}
    for model in MODELS:
        frame = wb.table(model)
        frames[model] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return frames


def assert_same_as_full_refresh(wb: Workbench) -> dict[str, pd.DataFrame]:
    incremental = snapshot(wb)
    rebuilt = wb.run(full_refresh=True)
    assert rebuilt.ok, rebuilt
    full = snapshot(wb)
    for model in MODELS:
        pd.testing.assert_frame_equal(incremental[model], full[model], obj=model)
    return incremental


def test_new_edited_and_retracted_message_files_match_a_full_rebuild(loaded):
    wb = Workbench(loaded)
    files = sorted((loaded / MESSAGES).glob("*.jsonl"))
    edited, retracted = files[0], files[-1]     # no later file replies to the last one's
    question = wb.sql("select q.message_id, q.user_id from community_questions as q join "
                      "stg_community_messages using (message_id) where q.reply_count = 0 and "
                      "_source_file not like ? order by q.message_id limit 1",
                      [f"%{retracted.name}"]).iloc[0]
    other = int(wb.sql("select user_id from stg_users where user_id <> ? limit 1",
                       [int(question["user_id"])])["user_id"][0])
    rows = [json.loads(line) for line in edited.read_text().splitlines()]
    rows[0]["text"] = "The python cell editor loses my work, this is a bug"
    edited.write_text("".join(json.dumps(r) + "\n" for r in rows))
    retracted.unlink()
    (loaded / MESSAGES / "2026-11.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [
        {"message_id": "1790000000.000001", "channel": "help", "user_id": other,
         "ts": "2026-11-01T10:00:00", "thread_id": str(question["message_id"]),
         "text": "Try the scheduler, it does exactly that"},
        {"message_id": "1790000000.000002", "channel": "help", "user_id": other,
         "ts": "2026-11-01T11:00:00", "thread_id": None,
         "text": "How do I share a dashboard with my team?"},
    ]))

    result = wb.run()

    assert result.ok, result
    assert result.node("int_message_topic_scan").status == "success"
    marts = assert_same_as_full_refresh(wb)
    answered = marts["community_questions"].set_index("message_id").loc[question["message_id"]]
    assert answered["reply_count"] == 1 and answered["answered"]
    assert "1790000000.000002" in set(marts["community_questions"]["message_id"])


def test_a_new_keyword_matches_old_messages_again(loaded):
    wb = Workbench(loaded)
    text = wb.sql("select text from stg_community_messages m anti join int_message_topics "
                  "using (message_id) where length(text) > 12 limit 1")["text"][0]
    keyword = text.lower().split()[-1].strip(".,!?")
    seed = loaded / "dbt" / "seeds" / "feature_keywords.csv"
    feature = seed.read_text().splitlines()[1].split(",")[0]
    seed.write_text(seed.read_text().rstrip("\n") + f"\n{feature},{keyword}\n")

    result = wb.run()

    assert result.ok, result
    topics = assert_same_as_full_refresh(wb)["int_message_topics"]
    matched = wb.sql("select message_id from stg_community_messages where "
                     "contains(lower(text), ?)", [keyword])["message_id"]
    assert set(matched) <= set(topics["message_id"])
