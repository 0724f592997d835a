"""The dashboard's logins: sessions held in memory, and one-time login codes.

A session id is a random cookie value that means nothing outside this process: a restart
logs everyone out, and nothing about it is written to disk. Each session has its own CSRF
token, which every POST must echo. A login code (``meshctl dashboard``) is spent once, and
only within ``CODE_TTL_S``.
"""
from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

SESSION_IDLE_S = 12 * 3600.0
CODE_TTL_S = 120.0
MAX_SESSIONS = 10_000  # the oldest go first beyond this: memory stays bounded whoever logs in


@dataclass
class Session:
    user: str
    role: str
    token_hash: str  # the API token's hash: a removed user's session ends with the user
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    last_used: float = field(default_factory=time.monotonic)


class Sessions:
    def __init__(self):
        self._sessions: dict[str, Session] = {}
        self._codes: dict[str, tuple[float, Session]] = {}
        self._lock = threading.Lock()

    def open(self, user: str, role: str, token_hash: str) -> tuple[str, Session]:
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            self._expire()
            while len(self._sessions) >= MAX_SESSIONS:
                self._sessions.pop(min(self._sessions, key=lambda k: self._sessions[k].last_used))
            session = self._sessions[session_id] = Session(user, role, token_hash)
        return session_id, session

    def get(self, session_id: str) -> Session | None:
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None or time.monotonic() - session.last_used > SESSION_IDLE_S:
                self._sessions.pop(session_id, None)
                return None
            session.last_used = time.monotonic()
            return session

    def close(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def new_code(self, user: str, role: str, token_hash: str) -> str:
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._expire()
            self._codes[code] = (time.monotonic() + CODE_TTL_S, Session(user, role, token_hash))
        return code

    def spend_code(self, code: str) -> tuple[str, Session] | None:
        """A new session for a valid code, which is gone from now on; None otherwise."""
        with self._lock:
            found = next((k for k in self._codes if hmac.compare_digest(k, code)), None)
            entry = self._codes.pop(found) if found else None
        if entry is None or entry[0] < time.monotonic():
            return None
        return self.open(entry[1].user, entry[1].role, entry[1].token_hash)

    def _expire(self) -> None:
        now = time.monotonic()
        self._codes = {k: v for k, v in self._codes.items() if v[0] >= now}
        self._sessions = {k: s for k, s in self._sessions.items() if now - s.last_used <= SESSION_IDLE_S}


def csrf_ok(session: Session, presented: str) -> bool:
    return bool(presented) and hmac.compare_digest(session.csrf.encode(), presented.encode())
