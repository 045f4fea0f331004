"""Each API process caches access tokens, and a revocation reaches every process's cache at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import ClientFactory
from oauth_flow import Client, OAuthApp, bearer, register_app, request_token, sign_up
from streams import eventually

from api.keys import RESOURCES
from stack import RunningStack
from storage.pubsub import parse_ids
from storage.resources import Resources
from storage.token_cache import TokenCache
from storage.tokens import REVOKED_CHANNEL, TokenGrant, hash_secret

# Each test runs on one Valkey and on a Valkey Cluster (tests/conftest.py).
pytestmark = pytest.mark.valkey_modes

ME = "/api/v1/accounts/verify_credentials"


# The cache on its own (an injected clock) -------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def grant(token_id: int) -> TokenGrant:
    return TokenGrant(token_id, account_id=token_id * 10, app_id=None, scopes=("read",))


def live_cache(ttl: float = 60.0, size: int = 100, clock: Callable[[], float] | None = None) -> TokenCache:
    cache = TokenCache(ttl, size, clock or Clock())
    cache.resume()
    return cache


def store(cache: TokenCache, token_id: int) -> bytes:
    key = hash_secret(f"token-{token_id}")
    cache.put(key, grant(token_id), cache.generation)
    return key


def test_an_entry_is_served_until_its_ttl_runs_out() -> None:
    clock = Clock()
    cache = live_cache(ttl=60.0, clock=clock)
    key = store(cache, 1)
    clock.now += 59.9
    assert cache.get(key) == grant(1)
    clock.now += 0.1
    assert cache.get(key) is None
    assert len(cache) == 0 and not cache.holds(1)


def test_a_hit_does_not_extend_the_entrys_life() -> None:
    clock = Clock()
    cache = live_cache(ttl=10.0, clock=clock)
    key = store(cache, 1)
    for _ in range(3):
        clock.now += 3
        assert cache.get(key) is not None
    clock.now += 1
    assert cache.get(key) is None


def test_the_oldest_entries_go_first_when_the_cache_is_full() -> None:
    clock = Clock()
    cache = live_cache(size=3, clock=clock)
    keys = []
    for token_id in range(1, 6):
        keys.append(store(cache, token_id))
        clock.now += 1
    assert len(cache) == 3
    assert [cache.get(key) is not None for key in keys] == [False, False, True, True, True]
    assert not cache.holds(1) and not cache.holds(2) and cache.holds(5)


def test_storing_drops_expired_entries_first() -> None:
    clock = Clock()
    cache = live_cache(ttl=10.0, size=100, clock=clock)
    for token_id in range(1, 4):
        store(cache, token_id)
    clock.now += 11
    store(cache, 4)
    assert len(cache) == 1 and cache.holds(4)


def test_evicting_by_token_id_forgets_the_token() -> None:
    cache = live_cache()
    first, second = store(cache, 1), store(cache, 2)
    cache.evict_ids([1, 99])
    assert cache.get(first) is None and not cache.holds(1)
    assert cache.get(second) == grant(2)


def test_a_lookup_that_raced_a_revocation_does_not_store_its_result() -> None:
    cache = live_cache()
    key = hash_secret("token")
    started = cache.generation
    cache.evict_ids([1])  # the revocation lands while the lookup is at PostgreSQL
    cache.put(key, grant(1), started)
    assert cache.get(key) is None and len(cache) == 0


def test_nothing_is_cached_until_the_listener_is_subscribed_nor_after_it_drops() -> None:
    cache = TokenCache(60.0, 100, Clock())
    key = store(cache, 1)
    assert cache.get(key) is None and not cache.live
    cache.resume()
    key = store(cache, 1)
    assert cache.get(key) is not None
    cache.suspend()
    assert cache.get(key) is None and len(cache) == 0
    store(cache, 1)
    assert len(cache) == 0
    cache.resume()
    assert len(cache) == 0


def test_a_zero_ttl_or_size_turns_the_cache_off() -> None:
    for cache in (live_cache(ttl=0.0), live_cache(size=0)):
        assert not cache.enabled
        key = store(cache, 1)
        assert cache.get(key) is None and len(cache) == 0


def test_revocation_messages_are_lists_of_token_ids() -> None:
    assert parse_ids(b"[1,2,3]") == [1, 2, 3]
    assert parse_ids(b"[]") == []
    for bad in (b"", b"1", b'{"id": 1}', b'["1"]', b"[true]", b"[1.5]", b"not json"):
        assert parse_ids(bad) is None, bad


# Through the API ---------------------------------------------------------------------------------------


def cache_of(client: Client) -> TokenCache:
    return client.app[RESOURCES].tokens


async def token_id_of(res: Resources, access_token: str) -> int:
    token_id: int = await res.db.fetchval(
        "SELECT id FROM access_tokens WHERE token_hash = $1", hash_secret(access_token)
    )
    return token_id


async def me_status(client: Client, access_token: str) -> int:
    response = await client.get(ME, headers=bearer(access_token))
    await response.read()
    return response.status


async def signed_up(client: Client, username: str = "alice") -> tuple[OAuthApp, dict[str, Any]]:
    app = await register_app(client)
    return app, await sign_up(client, app, username)


async def test_a_known_token_is_answered_from_the_cache_without_asking_postgresql(
    make_client: ClientFactory, res: Resources
) -> None:
    client, uncached = await make_client(), await make_client(token_cache_seconds=0.0)
    _, token = await signed_up(client)
    token_id = await token_id_of(res, token["access_token"])
    assert await me_status(client, token["access_token"]) == 200
    assert cache_of(client).holds(token_id)
    # Revoked behind Chirp's back (no announcement): only the cache can still be answering.
    await res.db.execute("UPDATE access_tokens SET revoked_at = now() WHERE id = $1", token_id)
    assert await me_status(client, token["access_token"]) == 200
    assert await me_status(uncached, token["access_token"]) == 401
    assert len(cache_of(uncached)) == 0


async def test_a_revoked_token_is_refused_at_once_by_the_process_that_revoked_it(
    client: Client, res: Resources
) -> None:
    app, token = await signed_up(client)
    assert await me_status(client, token["access_token"]) == 200
    assert cache_of(client).holds(await token_id_of(res, token["access_token"]))
    response = await client.post("/oauth/revoke", data={**app.credentials(), "token": token["access_token"]})
    assert response.status == 200
    assert await me_status(client, token["access_token"]) == 401


async def test_a_token_revoked_through_one_process_is_refused_by_another_that_had_it_cached(
    make_client: ClientFactory, res: Resources
) -> None:
    first, second = await make_client(), await make_client()
    app, token = await signed_up(first)
    token_id = await token_id_of(res, token["access_token"])
    for client in (first, second):
        assert await me_status(client, token["access_token"]) == 200
        assert cache_of(client).holds(token_id)
    # Revoked by its refresh token: the pair goes, and so does the cached access token.
    response = await first.post("/oauth/revoke", data={**app.credentials(), "token": token["refresh_token"]})
    assert response.status == 200
    assert not cache_of(first).holds(token_id)
    await eventually(lambda: not cache_of(second).holds(token_id), "the second process dropped the token")
    assert await me_status(second, token["access_token"]) == 401
    assert await me_status(first, token["access_token"]) == 401


async def test_refresh_rotation_ends_the_old_access_token_in_every_process(
    make_client: ClientFactory, res: Resources
) -> None:
    first, second = await make_client(), await make_client()
    app, token = await signed_up(first)
    old_id = await token_id_of(res, token["access_token"])
    for client in (first, second):
        assert await me_status(client, token["access_token"]) == 200
    status, rotated = await request_token(first, app, grant_type="refresh_token", refresh_token=token["refresh_token"])
    assert status == 200, rotated
    assert await me_status(first, token["access_token"]) == 401
    await eventually(lambda: not cache_of(second).holds(old_id), "the second process dropped the old token")
    assert await me_status(second, token["access_token"]) == 401
    for client in (first, second):
        assert await me_status(client, rotated["access_token"]) == 200


async def test_an_unknown_token_is_a_401_and_is_not_cached(client: Client) -> None:
    for _ in range(2):
        assert await me_status(client, "never-issued") == 401
    assert len(cache_of(client)) == 0


async def test_a_token_issued_by_another_process_works_at_once(make_client: ClientFactory) -> None:
    first, second = await make_client(), await make_client()
    app = await register_app(first)
    # The second process has just refused a token it does not know; then the first one issues one.
    assert await me_status(second, "not-yet") == 401
    token = await sign_up(first, app, "alice")
    assert await me_status(second, token["access_token"]) == 200


async def test_revocations_published_by_others_are_obeyed(client: Client, res: Resources) -> None:
    _, token = await signed_up(client)
    token_id = await token_id_of(res, token["access_token"])
    assert await me_status(client, token["access_token"]) == 200
    # Another process revoked it: PostgreSQL first, then the announcement on the channel.
    await res.db.execute("UPDATE access_tokens SET revoked_at = now() WHERE id = $1", token_id)
    receivers = await res.redis.publish(REVOKED_CHANNEL, f"[{token_id}]")
    if not res.settings.valkey_cluster:  # a cluster node counts only its own subscribers
        assert receivers >= 1
    await eventually(lambda: not cache_of(client).holds(token_id), "the process dropped the token")
    assert await me_status(client, token["access_token"]) == 401


@pytest.mark.single_valkey
async def test_without_valkey_the_cache_is_off_and_revocation_still_works(
    make_client: ClientFactory, res: Resources, stack: RunningStack
) -> None:
    client = await make_client(rate_limit_enabled=False)
    app, token = await signed_up(client)
    _, other = await signed_up(client, "bob")
    token_id = await token_id_of(res, token["access_token"])
    assert await me_status(client, token["access_token"]) == 200
    assert cache_of(client).holds(token_id)
    stack.servers["valkey"].stop()
    try:
        await eventually(lambda: not cache_of(client).live, "the cache went off with its pub/sub connection")
        assert len(cache_of(client)) == 0
        assert await me_status(client, token["access_token"]) == 200
        assert len(cache_of(client)) == 0
        # The announcement cannot go out; PostgreSQL holds the revocation, and nothing cached outlives it.
        response = await client.post("/oauth/revoke", data={**app.credentials(), "token": token["access_token"]})
        assert response.status == 200
        assert await me_status(client, token["access_token"]) == 401
    finally:
        stack.servers["valkey"].start()
    await eventually(lambda: cache_of(client).live, "the listener re-subscribed")
    assert await me_status(client, other["access_token"]) == 200
    assert cache_of(client).holds(await token_id_of(res, other["access_token"]))
    assert await me_status(client, token["access_token"]) == 401
