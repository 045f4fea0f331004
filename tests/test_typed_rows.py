"""Typed rows at the storage seam: each row a storage function returns holds its columns under their names.

A row class is built from its record by position (storage/rows.py), so these compare, on rows PostgreSQL
really returned, every attribute with the same column read by name in a query of their own: a query whose
columns came in another order than its row class declares would fail here.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import media_samples as samples
from conftest import UserFactory
from social import Client, post_status

from core.pagination import Page
from storage import apps as app_store
from storage import media as media_store
from storage import posts as post_store
from storage import timelines as timeline_store
from storage.resources import Resources
from storage.rows import Row, column_names, columns
from storage.timelines import TimelinePostRow


def assert_holds(row: Row | None, row_class: type[Row], by_name: Any) -> None:
    """`row` is a `row_class` whose every attribute is the column of that name in the record `by_name`."""
    assert type(row) is row_class
    assert by_name is not None
    for name in column_names(row_class):
        assert getattr(row, name) == by_name[name], name
        assert row[name] == by_name[name], name


async def _post_by_name(res: Resources, post_id: int) -> Any:
    return await res.db.fetchrow("SELECT *, visibility::text AS visibility FROM posts WHERE id = $1", post_id)


async def _media_by_name(res: Resources, media_id: int) -> Any:
    return await res.db.fetchrow("SELECT *, expires_at < now() AS expired FROM media WHERE id = $1", media_id)


async def _upload(client: Client, headers: dict[str, str]) -> int:
    form = aiohttp.FormData()
    form.add_field("file", samples.jpeg(), filename="a.jpg", content_type="image/jpeg")
    response = await client.post("/api/v2/media", data=form, headers=headers)
    assert response.status == 200, await response.text()
    return int((await response.json())["id"])


async def test_post_rows_hold_their_columns_under_their_names(
    res: Resources, client: Client, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    root = await post_status(client, alice, "hello #rows @bob", language="en", spoiler_text="cw")
    root_id = int(root["id"])
    reply_id = int((await post_status(client, bob, "@alice hi", in_reply_to_id=root["id"]))["id"])
    reposted = await client.post(f"/api/v1/statuses/{root_id}/reblog", headers=bob.headers)
    assert reposted.status == 200
    repost_id = int((await reposted.json())["id"])

    posts = await post_store.get_posts(res.db, [root_id, reply_id, repost_id])
    assert set(posts) == {root_id, reply_id, repost_id}
    for post_id, row in posts.items():
        assert_holds(row, post_store.PostRow, await _post_by_name(res, post_id))
    assert posts[reply_id].in_reply_to_id == root_id and posts[repost_id].reblog_of_id == root_id
    assert_holds(await post_store.get_post(res.db, reply_id), post_store.PostRow, await _post_by_name(res, reply_id))

    (reposter,) = await post_store.reposters(res.db, root_id, Page(limit=5))
    assert_holds(reposter, post_store.RepostRow, await _post_by_name(res, repost_id))
    async with res.db.acquire() as conn, conn.transaction():
        own = await post_store.lock_own_post(conn, root_id, alice.account_id)
        assert_holds(own, post_store.PostRow, await _post_by_name(res, root_id))
        counters = await post_store.add_to_counter(conn, root_id, "likes_count", 1)
        after = await conn.fetchrow("SELECT * FROM posts WHERE id = $1", root_id)
        assert_holds(counters, post_store.CountersRow, after)
        assert counters is not None and counters.likes_count == 1 and counters.reposts_count == 1
        before = await _post_by_name(res, repost_id)
        assert_holds(await post_store.delete_repost(conn, bob.account_id, root_id), post_store.RepostRow, before)


async def test_timeline_rows_hold_their_columns_under_their_names(
    res: Resources, client: Client, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    post_ids = [int((await post_status(client, alice, f"post {n}"))["id"]) for n in range(3)]
    for rows in (
        await timeline_store.home_rows(res.db, alice.account_id, limit=10, max_followers=1000, cutoff_id=0),
        await timeline_store.author_rows(res.db, [alice.account_id], 10),
    ):
        assert [row.id for row in rows] == post_ids[::-1]
        for row in rows:
            assert_holds(row, TimelinePostRow, await _post_by_name(res, row.id))


async def test_application_rows_hold_their_columns_under_their_names(res: Resources) -> None:
    app_id = res.ids.next_id()
    await app_store.insert_app(
        res.db,
        app_id,
        name="Rows",
        website="https://rows.example",
        redirect_uris=["urn:ietf:wg:oauth:2.0:oob"],
        scopes=["read"],
        client_id="rows-client",
        client_secret_hash=b"x",
    )
    apps = await post_store.applications(res.db, [app_id])
    by_name = await res.db.fetchrow("SELECT * FROM oauth_apps WHERE id = $1", app_id)
    assert_holds(apps[app_id], post_store.ApplicationRow, by_name)
    assert apps[app_id].name == "Rows" and apps[app_id].website == "https://rows.example"


async def test_media_rows_hold_their_columns_under_their_names(
    res: Resources, client: Client, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    media_id = await _upload(client, alice.headers)
    uploaded = await media_store.get_media(res.db, media_id)
    assert_holds(uploaded, media_store.MediaRow, await _media_by_name(res, media_id))
    status = await post_status(client, alice, "look", media_ids=[str(media_id)])
    (row,) = await media_store.for_posts(res.db, [int(status["id"])])
    assert_holds(row, media_store.MediaRow, await _media_by_name(res, media_id))
    assert row.post_id == int(status["id"]) and row.state == "succeeded" and row.meta is not None

    data = samples.jpeg()
    form = {"command": "INIT", "media_type": "image/jpeg", "total_bytes": str(len(data))}
    init = await client.post("/api/v1/media/upload", data=form, headers=alice.headers)
    assert init.status == 202, await init.text()
    chunked_id = int((await init.json())["media_id_string"])
    assert_holds(
        await media_store.get_media(res.db, chunked_id), media_store.MediaRow, await _media_by_name(res, chunked_id)
    )
    append = aiohttp.FormData()
    for name, value in (("command", "APPEND"), ("media_id", str(chunked_id)), ("segment_index", "0")):
        append.add_field(name, value)
    append.add_field("media", data, filename="blob", content_type="application/octet-stream")
    appended = await client.post("/api/v1/media/upload", data=append, headers=alice.headers)
    assert appended.status == 204, await appended.text()
    (segment,) = await media_store.segments(res.db, chunked_id)
    by_name = await res.db.fetchrow("SELECT * FROM media_segments WHERE media_id = $1", chunked_id)
    assert_holds(segment, media_store.SegmentRow, by_name)
    assert segment.segment_index == 0 and segment.size == len(data)


def test_a_row_class_selects_its_columns_in_the_order_it_declares_them() -> None:
    listed = columns(post_store.PostRow, "p", {"visibility": "p.visibility::text AS visibility"})
    assert [part.split()[-1].removeprefix("p.") for part in listed.split(", ")] == column_names(post_store.PostRow)
    assert column_names(post_store.PostRow)[:3] == ["id", "account_id", "visibility"]
