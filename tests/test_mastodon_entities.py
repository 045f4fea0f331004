"""Every entity type Chirp returns validates against Mastodon's own entity definitions (vendored in
tests/schemas/mastodon), not only against Chirp's description of itself: what a Mastodon app expects."""

from __future__ import annotations

import aiohttp
import media_samples as samples
from conftest import UserFactory
from mastodon_schemas import assert_mastodon, entity_names, problems
from oauth_flow import register_app, sign_up
from social import Client, expect, follow, post_status
from streams import run_queues

from storage.resources import Resources


def test_the_vendored_schemas_reject_what_mastodon_would_not_send() -> None:
    """The schemas bite: a missing required field or a wrong type is found."""
    assert "Account" in entity_names() and "GroupedNotificationsResults" in entity_names()
    assert problems("Marker", {"last_read_id": "1", "version": 0}) != []  # no updated_at
    assert problems("Relationship", {"id": 1}) != []
    assert problems("Tag", {"name": "x", "url": "https://x.test/tags/x", "history": []}) != []  # no id
    assert problems("Marker", {"last_read_id": "1", "version": 0, "updated_at": "2026-01-01T00:00:00.000Z"}) == []
    # References between entities are followed: a Status whose account lacks its id fails.
    status = {"id": "1", "uri": "u", "created_at": "2026-01-01T00:00:00Z", "content": "", "visibility": "public",
              "sensitive": False, "spoiler_text": "", "media_attachments": [], "mentions": [], "tags": [],
              "emojis": [], "reblogs_count": 0, "favourites_count": 0, "replies_count": 0, "account": {}}  # fmt: skip
    assert any(p.startswith("account") and "'id' is a required property" in p for p in problems("Status", status))


async def test_every_entity_chirp_returns_is_a_mastodon_entity(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    app = await register_app(client)
    created = await expect(
        await client.post("/api/v1/apps", json={"client_name": "Schema", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob"}),
        200,
    )
    assert_mastodon("Application", created)
    token = await sign_up(client, app, "dora")
    assert_mastodon("Token", token)
    dora_headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert_mastodon(
        "Application", await expect(await client.get("/api/v1/apps/verify_credentials", headers=dora_headers), 200)
    )

    alice, bob = await make_user("alice"), await make_user("bob")
    me = await expect(
        await client.patch(
            "/api/v1/accounts/update_credentials",
            data={"fields_attributes[0][name]": "Site", "fields_attributes[0][value]": "https://alice.example/"},
            headers=alice.headers,
        ),
        200,
    )
    assert_mastodon("CredentialAccount", me)
    assert_mastodon(
        "CredentialAccount",
        await expect(await client.get("/api/v1/accounts/verify_credentials", headers=alice.headers), 200),
    )
    assert_mastodon("Account", await expect(await client.get(f"/api/v1/accounts/{alice.id}"), 200))
    assert_mastodon("Preferences", await expect(await client.get("/api/v1/preferences", headers=alice.headers), 200))

    form = aiohttp.FormData()
    form.add_field("file", samples.png(), filename="a.png", content_type="image/png")
    form.add_field("description", "a gradient")
    uploaded = await client.post("/api/v2/media", data=form, headers=alice.headers)
    assert uploaded.status in (200, 202), await uploaded.text()
    media = assert_mastodon("MediaAttachment", await uploaded.json())
    await run_queues(res, "media")
    media = assert_mastodon(
        "MediaAttachment", await expect(await client.get(f"/api/v1/media/{media['id']}", headers=alice.headers), 200)
    )

    original = assert_mastodon("Status", await post_status(client, alice, "hello #schemas", media_ids=[media["id"]]))
    reply = assert_mastodon("Status", await post_status(client, bob, "@alice hi", in_reply_to_id=original["id"]))
    repost = await expect(await client.post(f"/api/v1/statuses/{original['id']}/reblog", headers=bob.headers), 200)
    assert_mastodon("Status", repost)
    await expect(await client.post(f"/api/v1/statuses/{original['id']}/favourite", headers=bob.headers), 200)
    assert_mastodon("Relationship", await follow(client, bob, alice))
    assert_mastodon(
        "Relationship",
        await expect(
            await client.get("/api/v1/accounts/relationships", params={"id[]": alice.id}, headers=bob.headers), 200
        ),
    )
    context = await expect(await client.get(f"/api/v1/statuses/{reply['id']}/context", headers=bob.headers), 200)
    assert_mastodon("Context", context)
    assert context["ancestors"] and context["ancestors"][0]["id"] == original["id"]
    home = await expect(await client.get("/api/v1/timelines/home", headers=bob.headers), 200)
    assert_mastodon("Status", home)

    await run_queues(res, "notifications")
    notes = await expect(await client.get("/api/v1/notifications", headers=alice.headers), 200)
    assert {n["type"] for n in notes} == {"mention", "reblog", "favourite", "follow"}
    assert_mastodon("Notification", notes)
    for expand in ("full", "partial_avatars"):
        grouped = await expect(
            await client.get("/api/v2/notifications", params={"expand_accounts": expand}, headers=alice.headers), 200
        )
        assert_mastodon("GroupedNotificationsResults", grouped)
    one = await expect(
        await client.get(
            f"/api/v2/notifications/{grouped['notification_groups'][0]['group_key']}", headers=alice.headers
        ),
        200,
    )
    assert_mastodon("GroupedNotificationsResults", one)
    assert_mastodon(
        "NotificationPolicy", await expect(await client.get("/api/v2/notifications/policy", headers=alice.headers), 200)
    )

    markers = await expect(
        await client.post("/api/v1/markers", json={"home": {"last_read_id": original["id"]}}, headers=alice.headers),
        200,
    )
    assert_mastodon("Marker", markers["home"])

    await expect(
        await client.patch("/api/v1/accounts/update_credentials", data={"locked": "true"}, headers=alice.headers), 200
    )
    carol = await make_user("carol")
    assert_mastodon("Relationship", await follow(client, carol, alice))
    assert_mastodon("Account", await expect(await client.get("/api/v1/follow_requests", headers=alice.headers), 200))
    assert_mastodon(
        "Relationship",
        await expect(await client.post(f"/api/v1/follow_requests/{carol.id}/authorize", headers=alice.headers), 200),
    )

    assert_mastodon("Instance", await expect(await client.get("/api/v2/instance"), 200))
    assert_mastodon("Error", await expect(await client.get("/api/v1/statuses/1"), 404))
