"""The authorization matrix over other users' objects, generated from the OpenAPI document: every secured
operation that takes the id of something a user owns (a post only its author and followers may see, its
poll, a list, a filter with its keywords and posts, a media attachment, a notification and its group, a
scheduled post, a conversation, a follow request, a featured hashtag, and, for the admin API, the admin's
account and a report) is called by another user holding every scope. Each call
must answer 404 or 403 with a JSON error, show none of the owner's text, and change nothing the owner has
(every table's content is compared before and after).

An operation whose path id is of a kind this test does not know fails it, so a new owned object cannot be
added without being put through the matrix.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient
from conftest import ClientFactory, UserFactory
from media_samples import png
from openapi_ops import operations
from social import expect, follow, post_status
from streams import run_queues

from storage.resources import Resources

Client = TestClient[web.Request, web.Application]
SECRET = "zq-secret"  # in every text of the owner's objects: no answer to the other user may contain it

# Path areas whose ids name accounts, tags or announcements: public things, not owned objects (a dismissed
# suggestion is the caller's own record about an account).
PUBLIC_AREAS = {"accounts", "announcements", "tags", "suggestions"}
# Tables whose content the other user's calls may change (their own token's use, background work queued).
NOISE = {"jobs", "access_tokens", "schema_migrations", "node_leases"}


def _area(path: str) -> str:
    """`/api/v2/filters/keywords/{id}` → `filters/keywords`: the words between the version and the first id."""
    head = path.split("{", 1)[0].strip("/").split("/")
    return "/".join(head[2:])


async def _snapshot(res: Resources) -> dict[str, str]:
    tables = [r["tablename"] for r in await res.db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    sums = {}
    for table in tables:
        if table in NOISE:
            continue
        sums[table] = await res.db.fetchval(
            f"SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM \"{table}\" t"
        )
    return sums


async def _owned_objects(client: Client, res: Resources, make_user: UserFactory) -> tuple[Any, dict[str, str]]:
    """Alice's objects of every kind, by path area, and the group key of her notifications."""
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    h = alice.headers
    await follow(client, bob, alice)
    await follow(client, alice, bob)
    private = await post_status(
        client,
        alice,
        f"{SECRET} for followers",
        visibility="private",
        poll={"options": [f"{SECRET} a", f"{SECRET} b"], "expires_in": 3600},
    )
    public = await post_status(client, alice, f"{SECRET} in public")
    listed = await expect(await client.post("/api/v1/lists", json={"title": f"{SECRET} list"}, headers=h), 200)
    await expect(
        await client.post(f"/api/v1/lists/{listed['id']}/accounts", json={"account_ids": [bob.id]}, headers=h), 200
    )
    filter_v2 = await expect(
        await client.post(
            "/api/v2/filters",
            json={"title": f"{SECRET} filter", "context": ["home"], "keywords_attributes": [{"keyword": SECRET}]},
            headers=h,
        ),
        200,
    )
    filtered_post = await expect(
        await client.post(f"/api/v2/filters/{filter_v2['id']}/statuses", json={"status_id": public["id"]}, headers=h),
        200,
    )
    filter_v1 = await expect(
        await client.post("/api/v1/filters", json={"phrase": f"{SECRET}v1", "context": ["home"]}, headers=h), 200
    )
    form = aiohttp.FormData()
    form.add_field("file", io.BytesIO(png()), filename="a.png", content_type="image/png")
    form.add_field("description", f"{SECRET} picture")
    media = await (await client.post("/api/v2/media", data=form, headers=h)).json()
    when = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    scheduled = await expect(
        await client.post("/api/v1/statuses", json={"status": f"{SECRET} later", "scheduled_at": when}, headers=h),
        200,
    )
    await post_status(client, alice, f"@bob {SECRET} direct", visibility="direct")
    # Bob likes her public post: a notification (and its group) for alice.
    await expect(await client.post(f"/api/v1/statuses/{public['id']}/favourite", headers=bob.headers), 200)
    # Alice locks her account and carol asks to follow: a follow request only alice may answer.
    await expect(await client.patch("/api/v1/accounts/update_credentials", json={"locked": True}, headers=h), 200)
    await expect(await client.post(f"/api/v1/accounts/{alice.id}/follow", headers=carol.headers), 200)
    # A featured hashtag of hers, and a report she filed (only moderators may see or act on it; alice, the
    # first account, is the admin, so the admin API's account ids name her too).
    featured = await expect(await client.post("/api/v1/featured_tags", json={"name": "birds"}, headers=h), 200)
    report = await expect(
        await client.post("/api/v1/reports", json={"account_id": carol.id, "comment": f"{SECRET} report"}, headers=h),
        200,
    )
    await run_queues(res)
    conversations = await expect(await client.get("/api/v1/conversations", headers=h), 200)
    notifications = await expect(await client.get("/api/v1/notifications", headers=h), 200)
    groups = await expect(await client.get("/api/v2/notifications", headers=h), 200)
    assert conversations and notifications and groups["notification_groups"]
    ids = {
        "statuses": private["id"],
        "polls": private["poll"]["id"],
        "lists": listed["id"],
        "timelines/list": listed["id"],
        "filters": filter_v1["id"],  # v1; v2's are below (the version picks)
        "v2:filters": filter_v2["id"],
        "filters/keywords": filter_v2["keywords"][0]["id"],
        "filters/statuses": filtered_post["id"],
        "media": media["id"],
        "scheduled_statuses": scheduled["id"],
        "conversations": conversations[0]["id"],
        "notifications": notifications[0]["id"],
        "group_key": groups["notification_groups"][0]["group_key"],
        "follow_requests": carol.id,
        "featured_tags": featured["id"],
        "admin/accounts": alice.id,
        "admin/reports": report["id"],
        # Notification requests exist only under a filtering policy; this one has none, so the id is one no
        # user holds, which still proves the answer is a 404 and not another user's request.
        "notifications/requests": "1",
    }
    return alice, ids


def _url(path: str, area: str, ids: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "group_key":
            return ids["group_key"]
        if name == "name":
            return "like"
        key = "v2:filters" if area == "filters" and path.startswith("/api/v2/") else area
        return ids[key]

    return re.sub(r"\{(\w+)\}", value, path)


async def test_no_secured_operation_shows_or_changes_another_users_object(
    make_client: ClientFactory, make_user: UserFactory, res: Resources
) -> None:
    client = await make_client(rate_limit_enabled=False)
    _alice, ids = await _owned_objects(client, res, make_user)
    # Every scope, the admin API's too: what refuses her is whose object it is (and her role), not her token.
    mallory = await make_user("mallory", scopes=("read", "write", "follow", "push", "admin:read", "admin:write"))
    document = await (await client.get("/openapi.json")).json()
    # Plausible values for every body field, so a call is refused for whose object it names, not its shape.
    payload = {
        "status": "mallory was here",
        "title": "mallory",
        "description": "mallory",
        "choices": [0],
        "phrase": "mallory",
        "keyword": "mallory",
        "context": ["home"],
        "account_ids": [mallory.id],
        "status_id": ids["statuses"],
        "scheduled_at": (datetime.now(UTC) + timedelta(hours=3)).isoformat(),
    }
    before = await _snapshot(res)
    failures: list[str] = []
    checked: set[str] = set()
    calls = 0
    for method, path, op in operations(document):
        if not op.get("security") or "{" not in path:
            continue
        area = _area(path)
        if area.split("/")[0] in PUBLIC_AREAS:
            continue
        if area not in ids and not path.startswith("/api/v2/notifications/{group_key}"):
            failures.append(f"{method.upper()} {path}: an owned object of a kind this test does not make")
            continue
        url = _url(path, area, ids)
        options: dict[str, Any] = {} if method == "get" else {"json": payload}
        async with client.request(method.upper(), url, headers=mallory.headers, **options) as response:
            text = await response.text()
            calls += 1
            checked.add(area)
            if response.status not in (403, 404):
                failures.append(f"{method.upper()} {path}: {response.status} {text[:160]}")
            elif response.content_type != "application/json" or '"error"' not in text:
                failures.append(f"{method.upper()} {path}: {response.status} without a JSON error: {text[:160]}")
            if SECRET in text:
                failures.append(f"{method.upper()} {path}: shows the owner's text: {text[:160]}")
    assert failures == [], "\n".join(failures)
    assert calls > 40, calls  # an empty matrix would prove nothing
    assert {"statuses", "polls", "lists", "filters", "media", "notifications", "scheduled_statuses"} <= checked
    assert {"conversations", "filters/keywords", "filters/statuses", "follow_requests"} <= checked
    assert {"featured_tags", "admin/accounts", "admin/reports"} <= checked
    await run_queues(res)  # whatever the calls queued has run: a change made in the background shows too
    after = await _snapshot(res)
    assert {t for t in before if before[t] != after.get(t)} == set()
