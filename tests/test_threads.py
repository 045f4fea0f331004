"""Replies and threads: nesting at any depth, context in depth-first order, limits, hidden and deleted posts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from conftest import UserFactory
from social import Client, User, expect, follow, post_counts, post_status

from storage import posts as post_store
from storage.resources import Resources


async def reply(client: Client, user: User, parent: dict[str, Any], text: str, **params: Any) -> dict[str, Any]:
    return await post_status(client, user, text, in_reply_to_id=parent["id"], **params)


async def context(client: Client, status_id: str, user: User | None = None) -> dict[str, list[dict[str, Any]]]:
    body: dict[str, list[dict[str, Any]]] = await expect(
        await client.get(f"/api/v1/statuses/{status_id}/context", headers=user.headers if user else {}), 200
    )
    return body


def ids(statuses: Sequence[dict[str, Any]]) -> list[str]:
    return [s["id"] for s in statuses]


async def insert_replies(res: Resources, author_id: int, parent_ids: Sequence[int], per_parent: int) -> list[int]:
    """`per_parent` replies under each parent, written straight into the table (COPY); their ids, by parent."""
    parents = await post_store.get_posts(res.db, parent_ids)
    records: list[tuple[Any, ...]] = []
    created: list[int] = []
    for parent_id in parent_ids:
        parent = parents[parent_id]
        for _ in range(per_parent):
            post_id = res.ids.next_id()
            created.append(post_id)
            records.append(
                (
                    post_id,
                    author_id,
                    "public",
                    f"reply {post_id}",
                    parent_id,
                    parent["account_id"],
                    parent["thread_root_id"],
                    parent["thread_path"] + post_store.path_component(post_id),
                    parent["thread_depth"] + 1,
                )
            )
    async with res.db.acquire() as conn:
        await conn.copy_records_to_table(
            "posts",
            records=records,
            columns=[
                "id",
                "account_id",
                "visibility",
                "text",
                "in_reply_to_id",
                "in_reply_to_account_id",
                "thread_root_id",
                "thread_path",
                "thread_depth",
            ],
        )
    return created


async def insert_chain(res: Resources, author_id: int, parent_id: int, length: int) -> list[int]:
    """A chain of `length` replies, each answering the one before."""
    chain: list[int] = []
    for _ in range(length):
        chain += await insert_replies(res, author_id, [chain[-1] if chain else parent_id], 1)
    return chain


def depth_first(children: dict[int, list[int]], start: int) -> list[int]:
    """The expected order: each post followed by its replies, siblings oldest (smallest id) first."""
    order: list[int] = []
    stack = sorted(children.get(start, []), reverse=True)
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(sorted(children.get(node, []), reverse=True))
    return order


# Replying --------------------------------------------------------------------------------------------


async def test_a_reply_points_at_its_parent_and_counts_on_it(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    root = await post_status(client, alice, "root")
    answer = await reply(client, bob, root, "answer")
    assert answer["in_reply_to_id"] == root["id"]
    assert answer["in_reply_to_account_id"] == alice.id
    assert (await post_counts(res, root["id"]))["replies_count"] == 2 - 1
    seen = await expect(await client.get(f"/api/v1/statuses/{root['id']}"), 200)
    assert seen["replies_count"] == 1


async def test_a_five_level_thread_with_siblings_reads_depth_first(client: Client, make_user: UserFactory) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    root = await post_status(client, alice, "root")
    # Created in an order that differs from the thread's order, so the order comes from the tree.
    a = await reply(client, bob, root, "a")
    b = await reply(client, carol, root, "b")
    a1 = await reply(client, carol, a, "a1")
    b1 = await reply(client, bob, b, "b1")
    a2 = await reply(client, alice, a, "a2")
    a1x = await reply(client, alice, a1, "a1x")
    a1xy = await reply(client, bob, a1x, "a1xy")
    whole = await context(client, root["id"])
    assert whole["ancestors"] == []
    assert ids(whole["descendants"]) == ids([a, a1, a1x, a1xy, a2, b, b1])
    middle = await context(client, a1x["id"], bob)
    assert ids(middle["ancestors"]) == ids([root, a, a1])
    assert ids(middle["descendants"]) == ids([a1xy])
    branch = await context(client, a["id"])
    assert ids(branch["ancestors"]) == ids([root])
    assert ids(branch["descendants"]) == ids([a1, a1x, a1xy, a2])
    leaf = await context(client, b1["id"])
    assert ids(leaf["ancestors"]) == ids([root, b]) and leaf["descendants"] == []


async def test_context_drops_posts_the_viewer_cannot_see(client: Client, make_user: UserFactory) -> None:
    alice, bob, dave = await make_user("alice"), await make_user("bob"), await make_user("dave")
    root = await post_status(client, alice, "root")
    hidden = await reply(client, dave, root, "followers only, and @alice", visibility="private")
    under_hidden = await reply(client, alice, hidden, "public reply to a hidden post")
    public = await reply(client, bob, root, "public")
    assert ids((await context(client, root["id"], bob))["descendants"]) == ids([under_hidden, public])
    assert ids((await context(client, root["id"], dave))["descendants"]) == ids([hidden, under_hidden, public])
    assert ids((await context(client, under_hidden["id"], bob))["ancestors"]) == ids([root])
    await follow(client, bob, dave)
    assert ids((await context(client, root["id"], bob))["descendants"]) == ids([hidden, under_hidden, public])
    await expect(await client.get(f"/api/v1/statuses/{hidden['id']}/context"), 404)


async def test_replies_to_unknown_or_invisible_posts_are_refused(client: Client, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    private = await post_status(client, alice, "private", visibility="private")
    response = await client.post(
        "/api/v1/statuses", json={"status": "x", "in_reply_to_id": private["id"]}, headers=bob.headers
    )
    await expect(response, 404)
    await expect(await client.get("/api/v1/statuses/123/context"), 404)


async def test_deleting_a_post_in_the_middle_keeps_its_replies_in_the_thread(
    client: Client, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    root = await post_status(client, alice, "root")
    middle = await reply(client, bob, root, "middle")
    below = await reply(client, alice, middle, "below")
    await expect(await client.delete(f"/api/v1/statuses/{middle['id']}", headers=bob.headers), 200)
    assert ids((await context(client, root["id"]))["descendants"]) == ids([below])
    orphan = await context(client, below["id"])
    assert ids(orphan["ancestors"]) == ids([root])
    assert (await expect(await client.get(f"/api/v1/statuses/{below['id']}"), 200))["in_reply_to_id"] == middle["id"]


async def test_replying_to_a_repost_replies_to_the_original(client: Client, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    original = await post_status(client, alice, "original")
    repost = await expect(await client.post(f"/api/v1/statuses/{original['id']}/reblog", headers=bob.headers), 200)
    answer = await reply(client, bob, repost, "answer")
    assert answer["in_reply_to_id"] == original["id"]
    assert ids((await context(client, repost["id"]))["descendants"]) == ids([answer])


# Limits ----------------------------------------------------------------------------------------------


async def test_signed_out_readers_get_mastodons_limits(client: Client, make_user: UserFactory, res: Resources) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    root = await post_status(client, alice, "root")
    chain = await insert_chain(res, bob.account_id, int(root["id"]), 45)
    flat = await insert_replies(res, bob.account_id, [int(root["id"])], 70)
    children = {int(root["id"]): [chain[0], *flat], **{chain[i]: [chain[i + 1]] for i in range(44)}}
    expected = depth_first(children, int(root["id"]))
    signed_in = await context(client, root["id"], alice)
    assert [int(i) for i in ids(signed_in["descendants"])] == expected
    signed_out = await context(client, root["id"])
    depth_limited = [i for i in expected if i not in chain[20:]]  # 20 levels below the post
    assert [int(i) for i in ids(signed_out["descendants"])] == depth_limited[:60]
    deepest = await context(client, str(chain[-1]))
    assert [int(i) for i in ids(deepest["ancestors"])] == [int(root["id"]), *chain[:-1]][-40:]
    assert len((await context(client, str(chain[-1]), alice))["ancestors"]) == 45


async def test_a_10000_reply_thread_reads_in_depth_first_order(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    root = await post_status(client, alice, "a busy thread")
    root_id = int(root["id"])
    level1 = await insert_replies(res, bob.account_id, [root_id], 100)
    level2 = await insert_replies(res, bob.account_id, level1, 9)
    level3 = await insert_replies(res, bob.account_id, level2, 10)
    assert len(level1) + len(level2) + len(level3) == 10_000
    rows = await res.db.fetch("SELECT id, in_reply_to_id FROM posts WHERE thread_root_id = $1 AND id <> $1", root_id)
    children: dict[int, list[int]] = {}
    for row in rows:
        children.setdefault(row["in_reply_to_id"], []).append(row["id"])
    expected = depth_first(children, root_id)
    assert len(expected) == 10_000

    whole = await context(client, root["id"], alice)
    assert [int(i) for i in ids(whole["descendants"])] == expected[:4096]
    branch_id = level1[57]
    branch = await context(client, str(branch_id), alice)
    assert [int(i) for i in ids(branch["descendants"])] == depth_first(children, branch_id)
    assert len(branch["descendants"]) == 99
    assert ids(branch["ancestors"]) == [root["id"]]
    leaf = level3[-1]
    leaf_context = await context(client, str(leaf))
    assert leaf_context["descendants"] == []
    assert [int(i) for i in ids(leaf_context["ancestors"])] == [root_id, level1[-1], level2[-1]]

    # The descendants are one range of the thread index, not a scan of the table.
    await res.db.execute("ANALYZE posts")
    root_row = await post_store.get_post(res.db, branch_id)
    assert root_row is not None
    plan = "\n".join(
        row[0]
        for row in await res.db.fetch(
            f"EXPLAIN {post_store.DESCENDANTS_SQL}",
            root_id,
            root_row["thread_path"],
            root_row["thread_path"] + b"\xff",
            2**31 - 1,
            alice.account_id,
            4096,
        )
    )
    assert "posts_thread" in plan, plan


async def test_threads_deeper_than_the_index_key_still_read_in_order(
    client: Client, make_user: UserFactory, res: Resources
) -> None:
    alice = await make_user("alice")
    root = await post_status(client, alice, "deep")
    root_id = int(root["id"])
    # 2,400 key bytes hold 300 levels; branch well below that so siblings share the whole key prefix.
    chain = await insert_chain(res, alice.account_id, root_id, 320)
    fork = chain[-1]
    first, second = await insert_replies(res, alice.account_id, [fork], 2)
    under_second = await insert_replies(res, alice.account_id, [second], 2)
    under_first = await insert_replies(res, alice.account_id, [first], 1)
    descendants = await context(client, str(chain[300]), alice)
    expected = [*chain[301:], first, *under_first, second, *under_second]
    assert [int(i) for i in ids(descendants["descendants"])] == expected
    deepest = await context(client, str(under_second[0]), alice)
    assert [int(i) for i in ids(deepest["ancestors"])] == [root_id, *chain, second]
