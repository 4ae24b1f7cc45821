"""Turn 👎 presses stored by the Telegram bot into draft eval cases for a maintainer to complete."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def import_feedback(feedback_path: Path, drafts_path: Path) -> int:
    """Append a draft case for every 👎 not drafted before; returns how many were written.

    A draft has the question and, under "bot_said", what the bot answered; the maintainer fills in
    `answerable`, `evidence` and `facts`, then moves it into evals/questions.jsonl.
    """
    if not feedback_path.exists():
        return 0
    existing = set()
    if drafts_path.exists():
        existing = {
            json.loads(line)["id"]
            for line in drafts_path.read_text(encoding="utf-8").splitlines()
            if line.strip()
        }
    drafts = []
    for entry in _entries(feedback_path):
        case_id = "feedback-" + hashlib.sha256(entry["question"].encode()).hexdigest()[:10]
        if entry.get("vote") != "down" or case_id in existing:
            continue
        existing.add(case_id)
        drafts.append(
            {
                "id": case_id,
                "question": entry["question"],
                "answerable": None,
                "tags": ["feedback"],
                "evidence": [],
                "facts": [],
                "bot_said": {
                    "answer": entry.get("answer"),
                    "abstained": entry.get("abstained"),
                    "quotes": [c.get("quote") for c in entry.get("citations") or [] if isinstance(c, dict)],
                    "index_version": entry.get("index_version"),
                },
            }
        )
    drafts_path.parent.mkdir(parents=True, exist_ok=True)
    with open(drafts_path, "a", encoding="utf-8") as handle:
        for draft in drafts:
            handle.write(json.dumps(draft, ensure_ascii=False) + "\n")
    return len(drafts)


def _entries(path: Path) -> list[dict]:
    """The file's votes; a torn or foreign line (a full disk cut the last write) is skipped."""
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        try:
            entry = json.loads(line)
        except ValueError:
            log.warning("%s:%d is not a whole JSON line; skipped", path, number)
            continue
        if isinstance(entry, dict) and isinstance(entry.get("question"), str):
            entries.append(entry)
    return entries
