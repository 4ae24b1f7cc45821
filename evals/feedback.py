"""Turn 👎 presses stored by the Telegram bot into draft eval cases for a maintainer to complete."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


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
    for line in feedback_path.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
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
                    "answer": entry["answer"],
                    "abstained": entry["abstained"],
                    "quotes": [c["quote"] for c in entry["citations"]],
                    "index_version": entry["index_version"],
                },
            }
        )
    drafts_path.parent.mkdir(parents=True, exist_ok=True)
    with open(drafts_path, "a", encoding="utf-8") as handle:
        for draft in drafts:
            handle.write(json.dumps(draft, ensure_ascii=False) + "\n")
    return len(drafts)
