"""Search: indexing from the durable events, every operator, typo tolerance, who finds what, deletes,
hashtags and accounts, a Meilisearch outage and catch-up, and a reindex while posts are being written.

Each test gets its own index prefix (three fresh indexes), so Meilisearch state never leaks between tests.
The worker runs in-process: `index_pending` drains the `search` queue as the worker process would.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from conftest import ClientFactory, UserFactory
from mastodon_schemas import assert_mastodon
from search_scope import fresh_search_indexes
from social import Client, User, expect, follow, post_status, record_event

from config import Settings
from domain import search_documents, search_indexing
from domain.search import tag_id
from domain.search_documents import plain_text
from stack import RunningStack
from storage import search_indexes as indexes
from storage.jobs import Job
from storage.resources import Resources, open_resources
from storage.search_indexes import HASHTAGS, POSTS, index_exists, index_name, posts_index
from workers import search as search_worker
from workers.queues import all_queues
from workers.runner import JobRunner, Queue


@pytest.fixture
async def search_settings(settings: Settings) -> AsyncIterator[Settings]:
    async with fresh_search_indexes(settings, search_timeout=0.8) as scoped:
        yield scoped


@pytest.fixture
async def sres(search_settings: Settings) -> AsyncIterator[Resources]:
    async with open_resources(search_settings) as resources:
        yield resources


@pytest.fixture
async def sclient(make_client: ClientFactory, search_settings: Settings) -> Client:
    return await make_client(
        meili_index_prefix=search_settings.meili_index_prefix, rate_limit_enabled=False, search_timeout=0.8
    )


async def index_pending(res: Resources) -> int:
    """Run the search worker over everything queued (what `chirp worker` does continuously)."""
    return await JobRunner(res, all_queues()).drain("search")


async def search(
    client: Client, q: str, user: User | None = None, *, status: int = 200, **params: Any
) -> dict[str, Any]:
    response = await client.get(
        "/api/v2/search", params={"q": q, **params}, headers=user.headers if user is not None else {}
    )
    body: dict[str, Any] = await expect(response, status)
    return body


async def found(client: Client, q: str, user: User | None = None, **params: Any) -> list[str]:
    """The texts of the statuses a search returns, in order."""
    body = await search(client, q, user, type="statuses", **params)
    return [plain(status["content"]) for status in body["statuses"]]


def plain(content: str) -> str:
    """The text of a Status's HTML content (these tests post no markup beyond what Chirp adds)."""
    return re.sub(r"<[^>]+>", "", content)


async def announce(res: Resources, kind: str, payload: dict[str, Any]) -> None:
    """Record an event the way a write would (for changes made here directly in SQL)."""
    async with res.db.acquire() as conn, conn.transaction():
        await record_event(conn, kind, payload)


# indexing and the response ---------------------------------------------------------------------------


async def test_a_post_becomes_searchable_once_the_worker_indexes_it(
    sclient: Client, sres: Resources, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    status = await post_status(sclient, alice, "Hello wonderful world")
    assert await found(sclient, "wonderful") == []  # not indexed yet: nothing runs the worker
    assert await index_pending(sres) >= 1
    body = await search(sclient, "wonderful")
    assert set(body) == {"accounts", "statuses", "hashtags"}
    assert [s["id"] for s in body["statuses"]] == [status["id"]]
    assert body["statuses"][0]["account"]["username"] == "alice"
    assert body["statuses"][0]["content"] == status["content"]


async def test_the_document_holds_plain_text_and_the_fields_filters_use(
    sclient: Client, sres: Resources, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    parent = await post_status(sclient, bob, "parent")
    status = await post_status(
        sclient, alice, "Hi @bob see https://www.example.com/news/item?utm=x #Launch", in_reply_to_id=parent["id"],
        language="en", visibility="unlisted",
    )  # fmt: skip
    await index_pending(sres)
    doc = await sres.meili.index(posts_index(sres.settings)).get_document(status["id"])
    assert doc["text"] == "Hi @bob see example.com/news/item #Launch"
    assert doc["author_id"] == alice.id and doc["username"] == "alice"
    assert doc["hashtags"] == ["launch"] and doc["mention_ids"] == [bob.id]
    assert doc["language"] == "en" and doc["visibility"] == "unlisted"
    assert doc["is_reply"] is True and doc["is_repost"] is False and doc["has_media"] is False
    created = datetime.fromisoformat(status["created_at"].replace("Z", "+00:00"))
    assert abs(doc["created_at"] - created.timestamp() * 1000) < 1000


def test_plain_text_keeps_mentions_and_tags_and_shortens_links() -> None:
    text = "see https://example.com/a/ and @bob #Tag"
    entities = [{"type": "link", "start": 4, "end": 26}, {"type": "mention", "start": 31, "end": 35}]
    assert plain_text(text, entities) == "see example.com/a and @bob #Tag"


def test_a_batch_of_events_folds_into_the_keys_to_re_render() -> None:
    def job(n: int, kind: str, payload: dict[str, Any]) -> Job:
        return Job(n, "search", kind, payload, 1)

    changes = search_indexing.changes_from(
        [
            job(1, "post.created", {"id": 10, "tags": ["cats"]}),
            job(2, "post.updated", {"id": 11, "reason": "like"}),
            job(3, "post.deleted", {"id": 12, "tags": ["dogs"]}),
            job(4, "post.created", {"id": 10, "tags": ["cats"]}),  # a replay changes nothing
            job(5, "follow.created", {"account_id": 1, "target_account_id": 2}),
            job(6, "account.updated", {"account_id": 3}),
            job(7, search_indexing.AUTHOR_POSTS, {"account_id": 3, "before_id": 99}),
            job(8, search_indexing.AUTHOR_POSTS, {"account_id": 4, "before_id": 50}),
            job(9, search_indexing.AUTHOR_POSTS, {"account_id": 4, "before_id": 70}),
            job(10, "like.created", {"post_id": 10}),
            job(11, search_indexing.RECOUNT_TAGS, {"tags": ["birds"]}),
        ]
    )
    assert changes.posts == {10, 11, 12}
    # A deletion and a follow-up recount their tags now; a new post's may be put off (TagRecounts).
    assert changes.tags == {"dogs", "birds"} and changes.new_tags == {"cats"}
    assert changes.accounts == {2, 3}  # the followed account's count, the changed profile
    # A restart from the newest beats a cursor; of two cursors the least advanced wins.
    assert changes.authors == {3: None, 4: 70}


async def test_a_busy_hashtag_is_recounted_once_a_window_and_settled_by_one_follow_up(
    sclient: Client, sres: Resources, make_user: UserFactory
) -> None:
    """New posts' tags counted lately by this worker wait for one delayed follow-up; a deletion recounts at
    once; the follow-up, when due, brings the count up to date."""
    recounts = search_indexing.TagRecounts(window=60)
    runner = JobRunner(sres, [Queue("search", search_worker.batch_handler(recounts), batch_size=1000)])
    hashtags = sres.meili.index(index_name(sres.settings, HASHTAGS))
    alice = await make_user("alice")

    async def uses() -> int:
        return int((await hashtags.get_document(search_documents.tag_id("busy")))["uses"])

    async def follow_ups() -> list[bool]:
        rows = await sres.db.fetch(
            "SELECT run_at > now() + interval '50 seconds' AS later FROM jobs WHERE kind = $1",
            search_indexing.RECOUNT_TAGS,
        )
        return [row["later"] for row in rows]

    await post_status(sclient, alice, "first #busy")
    await runner.drain("search")
    assert await uses() == 1 and await follow_ups() == []  # its first use: counted at once
    for n in range(3):
        await post_status(sclient, alice, f"more #busy {n}")
        await runner.drain("search")
    assert await uses() == 1  # put off...
    assert await follow_ups() == [True]  # ...to one follow-up, a window from now
    await sres.db.execute("UPDATE jobs SET run_at = now() WHERE kind = $1", search_indexing.RECOUNT_TAGS)
    await runner.drain("search")
    assert await uses() == 4 and await follow_ups() == []
    gone = await post_status(sclient, alice, "last #busy")
    await runner.drain("search")
    await expect(await sclient.delete(f"/api/v1/statuses/{gone['id']}", headers=alice.headers), 200)
    await runner.drain("search")
    assert await uses() == 4  # the deletion recounted at once (5 posts, one gone)


# operators -------------------------------------------------------------------------------------------


async def test_from_finds_only_that_authors_posts(sclient: Client, sres: Resources, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    await post_status(sclient, alice, "coffee time")
    await post_status(sclient, bob, "coffee please")
    await index_pending(sres)
    assert await found(sclient, "coffee from:alice") == ["coffee time"]
    assert await found(sclient, "coffee from:@BOB") == ["coffee please"]
    assert await found(sclient, "coffee -from:alice") == ["coffee please"]
    assert await found(sclient, "from:alice") == ["coffee time"]  # operators alone: every post of alice
    assert await found(sclient, "coffee from:nobody") == []
    assert await found(sclient, "coffee", account_id=bob.id) == ["coffee please"]


async def test_hashtag_operator_filters_by_tag(sclient: Client, sres: Resources, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    await post_status(sclient, alice, "release day #Python")
    await post_status(sclient, alice, "release day #rust")
    await post_status(sclient, alice, "release day #python #rust")
    await index_pending(sres)
    assert sorted(await found(sclient, "release #python")) == ["release day #Python", "release day #python #rust"]
    assert await found(sclient, "#python #rust") == ["release day #python #rust"]
    assert await found(sclient, "release -#python") == ["release day #rust"]


async def test_has_media_filters_posts_with_attachments(
    sclient: Client, sres: Resources, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    with_media = await post_status(sclient, alice, "holiday photos")
    await post_status(sclient, alice, "holiday plans")
    # Attaching media is the media capability's; the row's flag is what search reads at index time.
    await sres.db.execute("UPDATE posts SET has_media = true WHERE id = $1", int(with_media["id"]))
    await index_pending(sres)
    assert await found(sclient, "holiday has:media") == ["holiday photos"]
    assert await found(sclient, "holiday -has:media") == ["holiday plans"]


async def test_since_and_until_bound_the_day_in_utc(sclient: Client, sres: Resources, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    days = {"2024-03-09": None, "2024-03-10": None, "2024-03-11": None}
    for day in days:
        status = await post_status(sclient, alice, f"diary {day}")
        moment = datetime.fromisoformat(f"{day}T12:00:00+00:00")
        await sres.db.execute("UPDATE posts SET created_at = $2 WHERE id = $1", int(status["id"]), moment)
    await index_pending(sres)
    assert await found(sclient, "diary since:2024-03-10", sort="recent") == ["diary 2024-03-11", "diary 2024-03-10"]
    assert await found(sclient, "diary until:2024-03-10") == ["diary 2024-03-09"]
    assert await found(sclient, "diary since:2024-03-10 until:2024-03-11") == ["diary 2024-03-10"]


async def test_quoted_phrase_matches_words_together_in_order(
    sclient: Client, sres: Resources, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    await post_status(sclient, alice, "warm apple pie tonight")
    await post_status(sclient, alice, "pie with apple, warm")
    await index_pending(sres)
    assert await found(sclient, '"warm apple pie"') == ["warm apple pie tonight"]
    assert await found(sclient, 'pie -"apple pie"') == ["pie with apple, warm"]


async def test_minus_word_excludes_posts_containing_it(
    sclient: Client, sres: Resources, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    await post_status(sclient, alice, "I love cats and dogs")
    await post_status(sclient, alice, "dogs love long walks")
    await index_pending(sres)
    assert await found(sclient, "love -cats") == ["dogs love long walks"]
    assert await found(sclient, '""') == []  # quotes around nothing ask for nothing, not for everything


async def test_language_and_reply_operators(sclient: Client, sres: Resources, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    first = await post_status(sclient, alice, "guten morgen berlin", language="de")
    await post_status(sclient, alice, "good morning berlin", language="en", in_reply_to_id=first["id"])
    await index_pending(sres)
    assert await found(sclient, "berlin lang:de") == ["guten morgen berlin"]
    assert await found(sclient, "berlin is:reply") == ["good morning berlin"]
    assert await found(sclient, "berlin -is:reply") == ["guten morgen berlin"]


async def test_reposts_are_left_out_unless_asked_for(sclient: Client, sres: Resources, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    original = await post_status(sclient, alice, "worth sharing")
    await expect(await sclient.post(f"/api/v1/statuses/{original['id']}/reblog", headers=bob.headers), 200)
    await index_pending(sres)
    assert await found(sclient, "from:bob") == []
    body = await search(sclient, "from:bob is:repost", type="statuses")
    assert [s["reblog"]["id"] for s in body["statuses"]] == [original["id"]]


async def test_bad_operator_values_and_parameters_are_422(sclient: Client, search_settings: Settings) -> None:
    body = await search(sclient, "since:last-week", status=422)
    assert "since" in body["error"]
    await search(sclient, "has:video", status=422)
    await search(sclient, "", status=422)
    await search(sclient, "cats", type="people", status=422)
    await search(sclient, "cats", sort="random", status=422)
    await search(sclient, "cats", min_id="abc", status=422)
    await search(sclient, "x" * 501, status=422)


# ranking, sorting, typos -----------------------------------------------------------------------------


async def test_typos_are_forgiven_in_words_of_four_letters_or_more(
    sclient: Client, sres: Resources, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    await post_status(sclient, alice, "kittens are adorable")
    await post_status(sclient, alice, "my cats sleep")
    await post_status(sclient, alice, "the year 2024")
    await index_pending(sres)
    assert await found(sclient, "kitens") == ["kittens are adorable"]
    assert await found(sclient, "adorabel kittens") == ["kittens are adorable"]
    assert await found(sclient, "catz") == ["my cats sleep"]
    assert await found(sclient, "2025") == []  # numbers are taken as typed


async def test_recent_sorts_newest_first_and_relevant_weighs_likes(
    sclient: Client, sres: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    first = await post_status(sclient, alice, "launch one")
    await post_status(sclient, alice, "launch two")
    await post_status(sclient, alice, "launch three")
    await index_pending(sres)
    assert await found(sclient, "launch", sort="recent") == ["launch three", "launch two", "launch one"]
    # Likes are counter changes ranking uses: the liked post moves up among equally good matches.
    for fan in (bob, carol):
        await expect(await sclient.post(f"/api/v1/statuses/{first['id']}/favourite", headers=fan.headers), 200)
    await index_pending(sres)
    assert (await found(sclient, "launch"))[0] == "launch one"
    assert await found(sclient, "launch", sort="recent") == ["launch three", "launch two", "launch one"]


async def test_min_id_and_max_id_bound_the_statuses(sclient: Client, sres: Resources, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    ids = [(await post_status(sclient, alice, f"bounded {n}"))["id"] for n in range(4)]
    await index_pending(sres)
    body = await search(sclient, "bounded", type="statuses", min_id=ids[0], max_id=ids[3], sort="recent")
    assert [s["id"] for s in body["statuses"]] == [ids[2], ids[1]]


async def test_limit_and_offset_page_through_results(sclient: Client, sres: Resources, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    for n in range(5):
        await post_status(sclient, alice, f"paged {n}")
    await index_pending(sres)
    first = await found(sclient, "paged", sort="recent", limit=2)
    second = await found(sclient, "paged", sort="recent", limit=2, offset=2)
    assert first == ["paged 4", "paged 3"] and second == ["paged 2", "paged 1"]


# who sees what ---------------------------------------------------------------------------------------


async def test_private_posts_are_found_only_by_those_allowed_to_read_them(
    sclient: Client, sres: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol, dave = [await make_user(n) for n in ("alice", "bob", "carol", "dave")]
    await follow(sclient, bob, alice)
    await post_status(sclient, alice, "secret plans for @carol", visibility="private")
    await post_status(sclient, alice, "unlisted thoughts", visibility="unlisted")
    await index_pending(sres)
    assert await found(sclient, "secret", alice) == ["secret plans for @carol"]  # the author
    assert await found(sclient, "secret", bob) == ["secret plans for @carol"]  # a follower
    assert await found(sclient, "secret", carol) == ["secret plans for @carol"]  # mentioned
    assert await found(sclient, "secret", dave) == []
    assert await found(sclient, "secret") == []  # signed out
    assert await found(sclient, "unlisted", dave) == ["unlisted thoughts"]
    assert await found(sclient, "unlisted") == ["unlisted thoughts"]
    # Unfollowing takes the private post away at once, whatever the index says.
    await expect(await sclient.post(f"/api/v1/accounts/{alice.id}/unfollow", headers=bob.headers), 200)
    assert await found(sclient, "secret", bob) == []


async def test_a_private_post_the_filter_lets_through_is_still_checked_on_hydration(
    sclient: Client, sres: Resources, make_user: UserFactory
) -> None:
    alice, dave = await make_user("alice"), await make_user("dave")
    status = await post_status(sclient, alice, "hush hush")
    await index_pending(sres)
    # The post turns private behind the index's back: hydration must still hide it from strangers.
    await sres.db.execute("UPDATE posts SET visibility = 'private' WHERE id = $1", int(status["id"]))
    assert await found(sclient, "hush", dave) == []
    assert await found(sclient, "hush", alice) == ["hush hush"]


# deletes ---------------------------------------------------------------------------------------------


async def test_a_deleted_post_never_appears_and_leaves_the_index(
    sclient: Client, sres: Resources, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    status = await post_status(sclient, alice, "regrettable opinion")
    await index_pending(sres)
    await expect(await sclient.delete(f"/api/v1/statuses/{status['id']}", headers=alice.headers), 200)
    index = sres.meili.index(posts_index(sres.settings))
    assert (await index.get_document(status["id"]))["id"] == status["id"]  # the index lags...
    assert await found(sclient, "regrettable", alice) == []  # ...but search never shows it
    await index_pending(sres)
    documents = await index.get_documents(limit=100)
    assert [d["id"] for d in documents.results] == []


async def test_edits_and_profile_changes_reach_the_documents(
    sclient: Client, sres: Resources, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    status = await post_status(sclient, alice, "first draft")
    await index_pending(sres)
    await sres.db.execute("UPDATE posts SET text = 'final version', entities = '[]' WHERE id = $1", int(status["id"]))
    await announce(sres, "post.edited", {"id": int(status["id"]), "account_id": alice.account_id, "tags": []})
    await sres.db.execute("UPDATE accounts SET display_name = 'Alice Wonderland' WHERE id = $1", alice.account_id)
    await announce(sres, "account.updated", {"account_id": alice.account_id})
    await index_pending(sres)
    assert await found(sclient, "draft") == []
    assert await found(sclient, "final") == ["final version"]
    assert await found(sclient, "wonderland") == ["final version"]  # posts carry their author's names


# accounts and hashtags -------------------------------------------------------------------------------


async def test_accounts_are_found_by_name_and_bio_with_followers_in_ranking(
    sclient: Client, sres: Resources, make_user: UserFactory
) -> None:
    pilot_a, pilot_b, fan1, fan2 = [await make_user(n) for n in ("pilot_amy", "pilot_ben", "fan1", "fan2")]
    await sres.db.execute("UPDATE accounts SET note = 'I fly gliders' WHERE id = $1", pilot_a.account_id)
    await sres.db.execute("UPDATE accounts SET display_name = 'Captain Ben' WHERE id = $1", pilot_b.account_id)
    for user in (pilot_a, pilot_b):
        await announce(sres, "account.updated", {"account_id": user.account_id})
    await index_pending(sres)
    body = await search(sclient, "pilot", type="accounts")
    assert sorted(a["username"] for a in body["accounts"]) == ["pilot_amy", "pilot_ben"]
    assert body["statuses"] == [] and body["hashtags"] == []
    await follow(sclient, fan1, pilot_b)
    await follow(sclient, fan2, pilot_b)
    await index_pending(sres)  # follows change followers_count, which ranks accounts
    body = await search(sclient, "pilot", type="accounts")
    assert [a["username"] for a in body["accounts"]] == ["pilot_ben", "pilot_amy"]
    assert body["accounts"][0]["followers_count"] == 2
    assert [a["username"] for a in (await search(sclient, "gliders", type="accounts"))["accounts"]] == ["pilot_amy"]
    assert [a["username"] for a in (await search(sclient, "@captain", type="accounts"))["accounts"]] == ["pilot_ben"]
    followed = await search(sclient, "pilot", fan1, type="accounts", following="true")
    assert [a["username"] for a in followed["accounts"]] == ["pilot_ben"]


async def test_undiscoverable_accounts_are_found_only_by_exact_username(
    sclient: Client, sres: Resources, make_user: UserFactory
) -> None:
    hermit = await make_user("hermit")
    await sres.db.execute("UPDATE accounts SET discoverable = false WHERE id = $1", hermit.account_id)
    await announce(sres, "account.updated", {"account_id": hermit.account_id})
    await index_pending(sres)
    assert (await search(sclient, "herm", type="accounts"))["accounts"] == []
    assert [a["username"] for a in (await search(sclient, "hermit", type="accounts"))["accounts"]] == ["hermit"]


async def test_hashtag_suggestions_by_prefix_most_used_first(
    sclient: Client, sres: Resources, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    await post_status(sclient, alice, "tests with #pytest")
    await post_status(sclient, alice, "more #python")
    await post_status(sclient, alice, "even more #python")
    await post_status(sclient, alice, "secret #pyhidden", visibility="private")
    await index_pending(sres)
    body = await search(sclient, "#py", type="hashtags")
    assert [t["name"] for t in body["hashtags"]] == ["python", "pytest"]
    tag = body["hashtags"][0]
    assert tag == {"id": tag["id"], "name": "python", "url": f"{sres.settings.base_url}/tags/python", "history": []}
    assert tag["id"].isdigit() and tag["id"] == tag_id("python")  # derived from the name: stable everywhere
    assert_mastodon("Search", body)  # Mastodon's own Search and Tag entities (tests/schemas/mastodon)
    everything = await search(sclient, "pyt")
    assert [t["name"] for t in everything["hashtags"]] == ["python", "pytest"]
    # The last post with a tag goes: the suggestion goes with it.
    only = await post_status(sclient, alice, "lonely #pyonce")
    await index_pending(sres)
    assert [t["name"] for t in (await search(sclient, "pyonce", type="hashtags"))["hashtags"]] == ["pyonce"]
    await expect(await sclient.delete(f"/api/v1/statuses/{only['id']}", headers=alice.headers), 200)
    await index_pending(sres)
    assert (await search(sclient, "pyonce", type="hashtags"))["hashtags"] == []


# failures --------------------------------------------------------------------------------------------


async def test_a_failed_meilisearch_task_fails_the_job_which_is_retried(
    sclient: Client, sres: Resources, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    uid = posts_index(sres.settings)
    # Break the index: a primary key the documents lack makes Meilisearch fail the addition task.
    await indexes.delete_index(sres.meili, uid)
    await sres.meili.create_index(uid, primary_key="missing", wait=True)
    await post_status(sclient, alice, "retry me please")
    await index_pending(sres)
    job = await sres.db.fetchrow(
        "SELECT attempts, last_error, run_at > now() AS later FROM jobs WHERE queue = 'search'"
    )
    assert job is not None and job["attempts"] == 1 and job["later"]
    assert "missing" in job["last_error"]
    # Repaired, the retry indexes the post.
    await indexes.delete_index(sres.meili, uid)
    await indexes.create_index(sres.meili, uid, POSTS)
    await sres.db.execute("UPDATE jobs SET run_at = now() WHERE queue = 'search'")  # skip the backoff wait
    assert await index_pending(sres) == 1
    assert await found(sclient, "retry") == ["retry me please"]
    assert await sres.db.fetchval("SELECT count(*) FROM jobs WHERE queue = 'search'") == 0


# outage and catch-up ---------------------------------------------------------------------------------


async def test_meilisearch_down_means_503_fast_posting_works_and_indexing_catches_up(
    sclient: Client, sres: Resources, make_user: UserFactory, stack: RunningStack
) -> None:
    alice = await make_user("alice")
    await post_status(sclient, alice, "before the outage")
    await index_pending(sres)
    meili = stack.servers["meilisearch"]
    await asyncio.to_thread(meili.stop)
    try:
        started = time.monotonic()
        body = await search(sclient, "outage", status=503)
        assert time.monotonic() - started < 1.0
        assert body == {"error": "search is unavailable"}
        during = await post_status(sclient, alice, "written during the outage")  # posting keeps working
        assert await index_pending(sres) == 1  # tried, and put back
        job = await sres.db.fetchrow("SELECT attempts, run_at > now() AS later FROM jobs WHERE queue = 'search'")
        assert job is not None and job["attempts"] == 0 and job["later"]  # no attempt spent, nothing dead
        assert await sres.db.fetchval("SELECT count(*) FROM dead_jobs") == 0
    finally:
        await asyncio.to_thread(meili.start)
    await sres.db.execute("UPDATE jobs SET run_at = now() WHERE queue = 'search'")  # skip the short retry wait
    assert await index_pending(sres) == 1
    assert await found(sclient, "outage", sort="recent") == ["written during the outage", "before the outage"]
    assert [s["id"] for s in (await search(sclient, "during", type="statuses"))["statuses"]] == [during["id"]]


# reindex ---------------------------------------------------------------------------------------------


async def test_reindex_rebuilds_from_postgres_while_posts_are_written(
    sclient: Client, sres: Resources, make_user: UserFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await make_user("alice")
    early = [await post_status(sclient, alice, f"early post {n}") for n in range(12)]
    # Forget their indexing jobs: only the reindex can find these posts now.
    await sres.db.execute("DELETE FROM jobs WHERE queue = 'search'")
    monkeypatch.setattr(search_indexing, "REINDEX_PAGE", 3)  # many pages, so writes land mid-scan
    stages: list[tuple[str, int, int]] = []
    posts_scanned, late_writes_indexed, writing_done = asyncio.Event(), asyncio.Event(), asyncio.Event()

    def progress(stage: str, done: int, total: int) -> None:
        stages.append((stage, done, total))
        if stage == "accounts":
            posts_scanned.set()

    # Hold the swap until writes made after the posts scan are indexed: they reach the new index only
    # through the worker's writes to the rebuild indexes.
    finish = search_indexing._finish_rebuild

    async def finish_after_late_writes(res: Resources) -> None:
        await late_writes_indexed.wait()
        await finish(res)

    monkeypatch.setattr(search_indexing, "_finish_rebuild", finish_after_late_writes)

    async def delete(status: dict[str, Any]) -> None:
        await expect(await sclient.delete(f"/api/v1/statuses/{status['id']}", headers=alice.headers), 200)

    async def write() -> list[str]:
        # During the scan (its marker lives in Meilisearch, so poll for it).
        while not await search_indexing.rebuild_in_progress(sres):  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        made = [(await post_status(sclient, alice, f"late post {n}"))["id"] for n in range(5)]
        await delete(early[0])
        # After the posts scan, before the swap.
        await posts_scanned.wait()
        made += [(await post_status(sclient, alice, f"later post {n}"))["id"] for n in range(5)]
        await delete(early[1])
        await delete(early[2])
        writing_done.set()
        await index_pending(sres)
        late_writes_indexed.set()
        return made

    async def work() -> None:
        while not writing_done.is_set():
            await index_pending(sres)
            await asyncio.sleep(0.01)

    rebuild = asyncio.gather(write(), work(), search_indexing.reindex(sres, progress))
    late, _, result = await asyncio.wait_for(rebuild, 120)
    await index_pending(sres)
    expected = {int(s["id"]) for s in early[3:]} | {int(i) for i in late}
    assert {r["id"] for r in await sres.db.fetch("SELECT id FROM posts")} == expected
    documents = await sres.meili.index(posts_index(sres.settings)).get_documents(limit=1000)
    assert {int(d["id"]) for d in documents.results} == expected
    assert result.posts >= 9 and result.accounts >= 1
    assert stages[-1][0] == "hashtags" and any(stage == "posts" and done > 0 for stage, done, _ in stages)
    assert not await index_exists(sres.meili, index_name(sres.settings, POSTS, rebuild=True))
    assert len(await found(sclient, "early post", limit=40)) == 9
    assert len(await found(sclient, '"later post"', limit=40)) == 5


async def test_reindex_reports_each_stage_with_its_total_from_the_start(
    sres: Resources, sclient: Client, make_user: UserFactory
) -> None:
    empty: list[tuple[str, int, int]] = []
    await search_indexing.reindex(sres, lambda stage, done, total: empty.append((stage, done, total)))
    assert empty == [("posts", 0, 0), ("accounts", 0, 0), ("hashtags", 0, 0)]
    alice = await make_user("alice")
    await post_status(sclient, alice, "first #birds and #cats")
    await post_status(sclient, alice, "again #birds")
    await post_status(sclient, alice, "quietly #owls", visibility="private")  # not a searchable hashtag use
    stages: list[tuple[str, int, int]] = []
    await search_indexing.reindex(sres, lambda stage, done, total: stages.append((stage, done, total)))
    assert stages == [
        ("posts", 0, 3), ("posts", 3, 3), ("accounts", 0, 1), ("accounts", 1, 1), ("hashtags", 0, 2), ("hashtags", 2, 2)
    ]  # fmt: skip
