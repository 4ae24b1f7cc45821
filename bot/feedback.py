"""👍/👎 feedback: remember recent answers under short keys, append presses to a JSONL file.

The eval suite reads the file (`python -m evals import-feedback`). `callback_data` must stay under
64 bytes, so buttons carry "fb:<vote>:<12-char key>" and the answer itself stays here.
"""

from __future__ import annotations

import calendar
import json
import os
import secrets
import threading
import time
from collections import OrderedDict
from pathlib import Path

from bot.models import Answer

REMEMBERED = 2000
DEFAULT_RETENTION_DAYS = 90
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class FeedbackStore:
    """Recent answers by key, and an append-only log of votes kept for `retention_days`."""

    def __init__(self, path: Path, retention_days: int = DEFAULT_RETENTION_DAYS) -> None:
        self.path = path
        self.retention_days = retention_days
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
                "time": time.strftime(TIME_FORMAT, time.gmtime()),
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
            descriptor = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            os.chmod(self.path, 0o600)  # also for a file made before this rule
            with open(descriptor, "a", encoding="utf-8") as handle:
                # A line torn by a full disk must not swallow this one: start on a line of its own.
                torn = handle.tell() > 0 and os.pread(descriptor, 1, handle.tell() - 1) != b"\n"
                handle.write(("\n" if torn else "") + json.dumps(entry, ensure_ascii=False) + "\n")
            self._forget_old()
        return True

    def _forget_old(self) -> None:
        """Drop votes older than the retention (and torn lines): the file is rewritten beside itself
        and renamed over, so a crash leaves the old file whole. The oldest vote is first, so one
        line says whether there is anything to do."""
        cutoff = time.time() - self.retention_days * 86400
        with open(self.path, encoding="utf-8", errors="replace") as handle:
            if _entry_time(handle.readline()) >= cutoff:
                return
            kept = [line for line in handle if _entry_time(line) >= cutoff]
        fresh = self.path.with_name(self.path.name + ".tmp")
        descriptor = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(descriptor, "w", encoding="utf-8") as handle:
            handle.writelines(kept)
        os.replace(fresh, self.path)


def _entry_time(line: str) -> float:
    """When a vote was recorded (seconds since the epoch); 0 for a line that is not a vote."""
    try:
        return calendar.timegm(time.strptime(json.loads(line)["time"], TIME_FORMAT))
    except (ValueError, KeyError, TypeError):
        return 0.0
