"""👍/👎 feedback: remember recent answers under short keys, append presses to a JSONL file.

The eval suite reads the file (`python -m evals import-feedback`). `callback_data` must stay under
64 bytes, so buttons carry "fb:<vote>:<12-char key>" and the answer itself stays here.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections import OrderedDict
from pathlib import Path

from bot.models import Answer

REMEMBERED = 2000


class FeedbackStore:
    """Recent answers by key, and an append-only log of votes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._answers: OrderedDict[str, tuple[Answer, int]] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, answer: Answer, chat_id: int) -> str:
        """Keep `answer` for a later vote; returns its key."""
        key = secrets.token_urlsafe(9)  # 12 characters
        with self._lock:
            self._answers[key] = (answer, chat_id)
            while len(self._answers) > REMEMBERED:
                self._answers.popitem(last=False)
        return key

    def record(self, key: str, vote: str, user_id: int) -> bool:
        """Append a vote for the answer under `key`; False if it is no longer remembered."""
        with self._lock:
            remembered = self._answers.get(key)
            if remembered is None:
                return False
            answer, chat_id = remembered
            entry = {
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "vote": vote,
                "chat_id": chat_id,
                "user_id": user_id,
                "question": answer.question,
                "resolved_question": answer.resolved_question,
                "answer": answer.answer,
                "abstained": answer.abstained,
                "citations": [c.model_dump() for c in answer.citations],
                "index_version": answer.index_version,
            }
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # User and chat ids and questions: readable by the bot's own user only (0600).
            descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.chmod(self.path, 0o600)  # also for a file made before this rule
            with open(descriptor, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
        return True
