"""PostgreSQL streaming replicas (DATABASE_REPLICA_URL): lag-tolerant reads are served by a real replica the
test starts (pg_basebackup -R), and a writer reads their own writes from the primary until the replica has
replayed them (storage/read_replicas.py).

The replica's replay is paused (pg_wal_replay_pause) to make it lag on purpose: what it serves is then
visibly older than the primary, so each test can tell which server answered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from conftest import ClientFactory, UserFactory
from mastodon import Mastodon
from search_scope import fresh_search_indexes
from social import Client, User, follow, post_status

from config import Settings
from stack.postgres_replica import PostgresReplica
from storage.keys import home_key
from storage.resources import Resources, open_resources
from workers.queues import all_queues
from workers.runner import JobRunner

WAIT = 15.0  # seconds: a hang guard, not a timing assertion


@pytest.fixture
async def replica_client(make_client: ClientFactory, pg_replica: PostgresReplica) -> Client:
    return await make_client(database_replica_urls=(pg_replica.url,))


@pytest.fixture
async def replica_conn(pg_replica: PostgresReplica, res: Resources) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(pg_replica.url)
    await caught_up(res, conn)  # the truncation before this test included
    try:
        yield conn
    finally:
        await conn.execute("SELECT pg_wal_replay_resume()")
        await conn.close()


async def caught_up(res: Resources, replica: asyncpg.Connection) -> None:
    """Wait until the replica has replayed everything the primary had written when this was called."""
    target = await res.db.fetchval("SELECT (pg_current_wal_insert_lsn() - '0/0')::bigint")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while await replica.fetchval("SELECT (pg_last_wal_replay_lsn() - '0/0')::bigint < $1", target):
        assert loop.time() < deadline, "the replica did not catch up"
        await asyncio.sleep(0.02)


async def pause_replay(replica: asyncpg.Connection) -> None:
    await replica.execute("SELECT pg_wal_replay_pause()")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while await replica.fetchval("SELECT pg_get_wal_replay_pause_state()") != "paused":
        assert loop.time() < deadline, "replay did not pause"
        await asyncio.sleep(0.02)


async def public_ids(client: Client, headers: dict[str, str] | None = None) -> list[str]:
    response = await client.get("/api/v1/timelines/public", headers=headers or {})
    assert response.status == 200, await response.text()
    return [s["id"] for s in await response.json()]


async def test_the_replica_is_a_streaming_standby(replica_conn: asyncpg.Connection) -> None:
    assert await replica_conn.fetchval("SELECT pg_is_in_recovery()") is True
    with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
        await replica_conn.execute("CREATE TABLE nope (id int)")


async def test_anonymous_public_reads_come_from_the_replica(
    replica_client: Client, replica_conn: asyncpg.Connection, make_user: UserFactory, res: Resources
) -> None:
    author = await make_user("author")
    first = await post_status(replica_client, author, "replicated")
    await caught_up(res, replica_conn)
    assert await public_ids(replica_client) == [first["id"]]

    await pause_replay(replica_conn)
    second = await post_status(replica_client, author, "not replayed yet")
    # The replica has not replayed the second post: an anonymous reader is served by it.
    assert await public_ids(replica_client) == [first["id"]]
    profile = await replica_client.get(f"/api/v1/accounts/{author.id}/statuses")
    assert [s["id"] for s in await profile.json()] == [first["id"]]

    await replica_conn.execute("SELECT pg_wal_replay_resume()")
    await caught_up(res, replica_conn)
    assert await public_ids(replica_client) == [second["id"], first["id"]]


async def test_a_writer_reads_their_own_write_while_the_replica_lags(
    replica_client: Client, replica_conn: asyncpg.Connection, make_user: UserFactory
) -> None:
    author, other = await make_user("author"), await make_user("other")
    await pause_replay(replica_conn)
    posted = await post_status(replica_client, author, "mine")
    # The author's reads wait for a replica that has the post: the primary answers meanwhile.
    assert await public_ids(replica_client, author.headers) == [posted["id"]]
    profile = await replica_client.get(f"/api/v1/accounts/{author.id}/statuses", headers=author.headers)
    assert [s["id"] for s in await profile.json()] == [posted["id"]]
    # Someone else, who wrote nothing, is served by the lagging replica.
    assert await public_ids(replica_client, other.headers) == []
    # A follow is a write too: the follower sees the followed account's profile as of the follow.
    await follow(replica_client, other, author)
    account = await replica_client.get(f"/api/v1/accounts/{author.id}", headers=other.headers)
    assert (await account.json())["followers_count"] == 1
    assert await public_ids(replica_client, other.headers) == [posted["id"]]


async def test_reads_fall_back_to_the_primary_when_the_replica_is_down(
    make_client: ClientFactory, make_user: UserFactory
) -> None:
    author = await make_user("author")
    client = await make_client(database_replica_urls=("postgresql://postgres@127.0.0.1:1/chirp",))
    posted = await post_status(client, author, "primary only")
    assert await public_ids(client) == [posted["id"]]


async def test_mastodon_py_reads_its_own_post_through_a_lagging_replica(
    replica_client: Client, replica_conn: asyncpg.Connection, make_user: UserFactory
) -> None:
    author = await make_user("author")
    await pause_replay(replica_conn)
    base = str(replica_client.make_url("")).rstrip("/")
    api = Mastodon(access_token=author.token, api_base_url=base, version_check_mode="none")

    def post_and_read() -> tuple[str, list[str]]:
        status = api.status_post("through mastodon.py")
        mine = api.account_statuses(author.id)
        return str(status["id"]), [str(s["id"]) for s in mine]

    posted, listed = await asyncio.to_thread(post_and_read)
    assert listed == [posted]


# rebuilds and search hydration ---------------------------------------------------------------------------
# (docs/scaling.md, "PostgreSQL replicas: which queries go where")

# A fragment of the home rebuild's query (storage/timelines.py `home_rows`), to find it among the replica's
# sessions in pg_stat_activity: each session shows the last statement it ran.
HOME_ROWS_SQL = "FROM followed fo"


async def replica_ran(replica: asyncpg.Connection, fragment: str) -> bool:
    return bool(
        await replica.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query LIKE '%' || $1 || '%'",
            fragment,
        )
    )


async def home_texts(client: Client, user: User) -> list[str]:
    response = await client.get("/api/v1/timelines/home", headers=user.headers)
    assert response.status == 200, await response.text()
    return [s["content"] for s in await response.json()]


async def test_a_home_rebuild_reads_a_replica_only_once_it_has_every_post(
    replica_client: Client, replica_conn: asyncpg.Connection, make_user: UserFactory, res: Resources
) -> None:
    author, reader = await make_user("author"), await make_user("reader")
    await follow(replica_client, reader, author)
    await post_status(replica_client, author, "one")
    await caught_up(res, replica_conn)
    await pause_replay(replica_conn)
    await post_status(replica_client, author, "two")  # on the primary only
    await res.redis.delete(home_key(reader.account_id))
    # The lagging replica lacks "two": the rebuild (kept in Valkey) is read from the primary.
    assert await home_texts(replica_client, reader) == ["<p>two</p>", "<p>one</p>"]
    assert not await replica_ran(replica_conn, HOME_ROWS_SQL)

    await replica_conn.execute("SELECT pg_wal_replay_resume()")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    # Caught up, the replica serves the rebuild (tried again while some background write keeps it behind).
    while not await replica_ran(replica_conn, HOME_ROWS_SQL):
        assert loop.time() < deadline, "no home rebuild reached the replica"
        await caught_up(res, replica_conn)
        await res.redis.delete(home_key(reader.account_id))
        assert await home_texts(replica_client, reader) == ["<p>two</p>", "<p>one</p>"]


async def test_search_results_are_hydrated_from_the_replica_but_a_writer_sees_their_own_write(
    make_client: ClientFactory,
    pg_replica: PostgresReplica,
    replica_conn: asyncpg.Connection,
    make_user: UserFactory,
    settings: Settings,
) -> None:
    async with fresh_search_indexes(settings) as scoped:
        client = await make_client(
            database_replica_urls=(pg_replica.url,),
            meili_index_prefix=scoped.meili_index_prefix,
            rate_limit_enabled=False,
        )
        async with open_resources(scoped) as sres:
            author, liker = await make_user("author"), await make_user("liker")
            posted = await post_status(client, author, "a replicated marmalade")
            assert await JobRunner(sres, all_queues()).drain("search") >= 1
            await caught_up(sres, replica_conn)
            await pause_replay(replica_conn)
            liked = await client.post(f"/api/v1/statuses/{posted['id']}/favourite", headers=liker.headers)
            assert liked.status == 200, await liked.text()

            async def hit(user: User | None) -> dict[str, Any]:
                headers = user.headers if user is not None else {}
                response = await client.get("/api/v2/search", params={"q": "marmalade"}, headers=headers)
                assert response.status == 200, await response.text()
                statuses: list[dict[str, Any]] = (await response.json())["statuses"]
                assert [s["id"] for s in statuses] == [posted["id"]]
                return statuses[0]

            # Anonymous (and anyone who wrote nothing): the lagging replica's post, without the like.
            assert (await hit(None))["favourites_count"] == 0
            assert (await hit(author))["favourites_count"] == 0
            # The liker's own write is visible to the liker: the primary answers them meanwhile.
            own = await hit(liker)
            assert (own["favourites_count"], own["favourited"]) == (1, True)
