"""Sessions kept in the database and read from Redis: a request reads one key instead of a query.

Django's `cached_db` engine, made to keep the app's promise that pages and API reads work without
Redis, and never to let a session outlive its deletion:
- with the cache unreachable a session is read from, checked against and written to the database;
- deleting a session (signing out, the new key of a sign-in, ending a session from the account page)
  removes the cached copy before the row and again after it. With Redis unreachable the deletion
  fails as a whole (503, as signing in does) instead of leaving a copy that would serve the session
  once Redis is back; the second removal drops a copy that a request running at the same time may
  have cached from the row just before it went;
- a cached copy lives at most CACHED_SECONDS, so a change written while Redis was away (when the
  copy could not be replaced) is read from the database again within minutes.
"""

import contextlib
import logging

from django.contrib.sessions.backends import cached_db
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

CACHE_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError)
CACHED_SECONDS = 300
logger = logging.getLogger(__name__)


class SessionStore(cached_db.SessionStore):
    def load(self) -> dict:
        try:
            data = self._cache.get(self.cache_key)
        except Exception:  # as Django's cached_db: a key the cache refuses, or the cache away
            data = None
        if data is not None:
            return data
        session = self._get_session_from_db()
        if session is None:
            return {}
        data = self.decode(session.session_data)
        self._cache_copy(data, self.get_expiry_age(expiry=session.expire_date))
        return data

    def exists(self, session_key: str) -> bool:
        with contextlib.suppress(*CACHE_UNAVAILABLE):
            if session_key and (self.cache_key_prefix + session_key) in self._cache:
                return True
        return DatabaseSessionStore.exists(self, session_key)

    def save(self, must_create: bool = False) -> None:
        DatabaseSessionStore.save(self, must_create)
        self._cache_copy(self._session, self.get_expiry_age())

    def delete(self, session_key: str | None = None) -> None:
        session_key = session_key or self.session_key
        if session_key is None:
            return
        self._cache.delete(self.cache_key_prefix + session_key)
        DatabaseSessionStore.delete(self, session_key)
        self._cache.delete(self.cache_key_prefix + session_key)

    def _cache_copy(self, data: dict, expiry_seconds: int) -> None:
        try:
            self._cache.set(self.cache_key, data, min(expiry_seconds, CACHED_SECONDS))
        except CACHE_UNAVAILABLE:  # read from the database until Redis is back
            logger.warning("session not cached: Redis is unreachable")
