"""Reports: stored with a snapshot of the reported posts as they were, and clear 4xx for bad reports."""

from __future__ import annotations

import asyncio

from conftest import UserFactory
from mastodon import Mastodon
from social import Client, expect, post_status
from test_mastodon_py import base_url, sign_up_and_in  # noqa: F401 (fixture)

from storage.resources import Resources


async def test_a_report_keeps_the_reported_posts_as_they_were(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    reported = await post_status(client, bob, "something nasty")
    body = {"account_id": bob.id, "status_ids": [reported["id"]], "comment": "rude", "category": "spam"}
    report = await expect(await client.post("/api/v1/reports", json=body, headers=alice.headers), 200)
    assert report["category"] == "spam" and report["comment"] == "rude" and report["action_taken"] is False
    assert report["status_ids"] == [reported["id"]] and report["target_account"]["id"] == bob.id
    await expect(await client.delete(f"/api/v1/statuses/{reported['id']}", headers=bob.headers), 200)
    row = await res.db.fetchrow("SELECT account_id, snapshot FROM reports")
    assert row is not None and row["account_id"] == alice.account_id
    snapshot = row["snapshot"]  # jsonb, read as JSON (a list of Status entities)
    assert [s["id"] for s in snapshot] == [reported["id"]] and "something nasty" in snapshot[0]["content"]
    with_rules = {"account_id": bob.id, "rule_ids": ["1"]}
    ruled = await expect(await client.post("/api/v1/reports", json=with_rules, headers=alice.headers), 200)
    assert ruled["category"] == "violation" and ruled["status_ids"] is None


async def test_bad_reports_get_clear_4xx(client: Client, make_user: UserFactory) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    carols = await post_status(client, carol, "carol's")
    no_target = await expect(await client.post("/api/v1/reports", json={"comment": "x"}, headers=alice.headers), 422)
    assert "account_id" in no_target["error"]
    await expect(await client.post("/api/v1/reports", json={"account_id": "999999"}, headers=alice.headers), 404)
    await expect(await client.post("/api/v1/reports", json={"account_id": alice.id}, headers=alice.headers), 422)
    not_theirs = {"account_id": bob.id, "status_ids": [carols["id"]]}
    await expect(await client.post("/api/v1/reports", json=not_theirs, headers=alice.headers), 422)
    bad_category = {"account_id": bob.id, "category": "boring"}
    await expect(await client.post("/api/v1/reports", json=bad_category, headers=alice.headers), 422)
    await expect(await client.post("/api/v1/reports", json={"account_id": bob.id}), 401)


async def test_mastodon_py_reports_an_account(base_url: str) -> None:  # noqa: F811
    def run() -> None:
        api, _ = sign_up_and_in(base_url)
        client_id, client_secret = Mastodon.create_app("chirp-report", api_base_url=base_url)
        registrar = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=base_url)
        bob = Mastodon(
            access_token=registrar.create_account("bob", "correct horse battery", "b@example.test", agreement=True),
            api_base_url=base_url,
        )
        post = bob.status_post("spam spam spam")
        report = api.report(bob.me().id, status_ids=[post.id], comment="spam", category="spam")
        assert report.category == "spam" and [str(i) for i in report.status_ids] == [str(post.id)]

    await asyncio.to_thread(run)
