"""Django's Redis cache, keeping one redis-py client per connection pool, and counters in one round trip.

Django's `RedisCacheClient.get_client` builds a new `redis.Redis` for every operation, and each one
copies redis-py's table of response callbacks: a large share of the CPU of a cached API read. A
redis-py client over a connection pool is thread-safe, so one per pool serves every operation.
"""

from collections.abc import Mapping

from django.core.cache import caches
from django.core.cache.backends import redis as django_redis

# KEYS[i] goes up by one, expiring after ARGV[2i-1] seconds when just made; past its limit ARGV[2i],
# the counters after it are left alone.
COUNT_SCRIPT = """
local counts = {}
for i, key in ipairs(KEYS) do
    counts[i] = redis.call('INCR', key)
    if counts[i] == 1 then
        redis.call('EXPIRE', key, ARGV[2 * i - 1])
    end
    if counts[i] > tonumber(ARGV[2 * i]) then
        break
    end
end
return counts
"""
UNLIMITED = 2**53  # a limit no counter reaches (the largest integer Lua's numbers hold exactly)


class PooledRedisCacheClient(django_redis.RedisCacheClient):
    """Django's client, with one `redis.Redis` kept per connection pool instead of one per operation."""

    def __init__(self, servers, **options) -> None:
        super().__init__(servers, **options)
        self._clients = {}
        self._count_script = None

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            pool = self._get_connection_pool(write)
            client = self._clients.setdefault(index, self._client(connection_pool=pool))
        return client

    def count(self, limits: Mapping[str, tuple[int, int]]) -> list[int]:
        if self._count_script is None:
            self._count_script = self.get_client(write=True).register_script(COUNT_SCRIPT)
        args = [number for limit, timeout in limits.values() for number in (timeout, limit)]
        return self._count_script(keys=list(limits), args=args)


class RedisCache(django_redis.RedisCache):
    """`django.core.cache.backends.redis.RedisCache` on `PooledRedisCacheClient`."""

    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = PooledRedisCacheClient

    def count(self, limits: Mapping[str, tuple[int, int]], version: int | None = None) -> list[int]:
        """Add one to each `{key: (limit, timeout_seconds)}` counter in turn, in one round trip.

        A counter just made expires after its timeout. The counts come back in order and stop at
        the first one past its limit: the counters after it are not touched.
        """
        made = {self.make_and_validate_key(key, version=version): pair for key, pair in limits.items()}
        return self._cache.count(made)


def count_up(key: str, timeout_seconds: int, *, alias: str = "default") -> int:
    """Add one to the counter `key` and return its count; a counter just made expires after
    `timeout_seconds`. Atomic: parallel callers each get their own count.

    On Redis one round trip; elsewhere an add then an increment, made again if the counter expired
    between the two.
    """
    cache = caches[alias]
    if isinstance(cache, RedisCache):
        return cache.count({key: (UNLIMITED, timeout_seconds)})[0]
    cache.add(key, 0, timeout_seconds)
    try:
        return cache.incr(key)
    except ValueError:  # the counter expired between the add and the increment
        cache.add(key, 1, timeout_seconds)
        return 1
