"""Who may ask, and how often."""

from __future__ import annotations

import time
from collections import defaultdict, deque


class AccessList:
    """Allowed user or chat ids; an empty list lets everyone in."""

    def __init__(self, allowed_ids: list[int]) -> None:
        self.allowed = set(allowed_ids)

    def permits(self, user_id: int | None, chat_id: int | None) -> bool:
        return not self.allowed or user_id in self.allowed or chat_id in self.allowed


class RateLimiter:
    """At most `per_minute` questions per user in any 60-second window."""

    def __init__(self, per_minute: int, clock=time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._times: dict[int, deque[float]] = defaultdict(deque)
        self._warned: dict[int, float] = {}

    def allow(self, user_id: int) -> bool:
        now = self.clock()
        times = self._times[user_id]
        while times and now - times[0] >= 60:
            times.popleft()
        if len(times) >= self.per_minute:
            return False
        times.append(now)
        return True

    def should_warn(self, user_id: int) -> bool:
        """Whether to tell a refused user to slow down: once a minute, not once per flooded message."""
        now = self.clock()
        if now - self._warned.get(user_id, -60.0) < 60:
            return False
        self._warned[user_id] = now
        return True
