"""Accounts: registration, the signed-in user's account and preferences, profile updates, lookups."""

from __future__ import annotations

import asyncio
import io
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import UserFactory
from live import serve_app
from mastodon import Mastodon
from oauth_flow import PASSWORD, Client, app_token, bearer, register_app, sign_up
from PIL import Image
from social import expect

from app.main import create_app
from config import Settings
from storage.resources import Resources

# Registration ----------------------------------------------------------------------------------------


async def _register(client: Client, **fields: Any) -> tuple[int, dict[str, Any]]:
    app = await register_app(client)
    token = await app_token(client, app, "read write follow push")
    payload = {"username": "alice", "email": "alice@example.test", "password": PASSWORD, "agreement": True}
    response = await client.post("/api/v1/accounts", json={**payload, **fields}, headers=bearer(token))
    body: dict[str, Any] = await response.json()
    return response.status, body


async def test_registering_returns_a_token_for_the_new_account_with_the_app_tokens_scopes(
    client: Client, res: Resources
) -> None:
    status, token = await _register(client)
    assert status == 200, token
    assert token["token_type"] == "Bearer"
    assert token["scope"].split() == ["follow", "push", "read", "write"]
    response = await client.get("/api/v1/accounts/verify_credentials", headers=bearer(token["access_token"]))
    me = await response.json()
    assert response.status == 200
    assert me["username"] == me["acct"] == "alice"
    assert me["source"] == {
        "privacy": "public",
        "sensitive": False,
        "language": None,
        "note": "",
        "fields": [],
        "follow_requests_count": 0,
        "discoverable": True,
        "hide_collections": False,
        "indexable": True,
        "attribution_domains": [],
    }
    # The instance's first account is its admin (issue 22); later ones have Mastodon's "everyone" role.
    assert me["role"] == {"id": "3", "name": "Admin", "permissions": "1", "color": "", "highlighted": True}
    _, second = await _register(client, username="bob", email="bob@example.test")
    bob = await (await client.get("/api/v1/accounts/verify_credentials", headers=bearer(second["access_token"]))).json()
    assert bob["role"] == {"id": "-99", "name": "", "permissions": "0", "color": "", "highlighted": False}
    stored = await res.db.fetchval("SELECT password_hash FROM accounts WHERE username = 'alice'")
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"username": "bad name!"}, "username", "ERR_INVALID"),
        ({"username": "a" * 31}, "username", "ERR_TOO_LONG"),
        ({"username": ""}, "username", "ERR_BLANK"),
        ({"username": "Admin"}, "username", "ERR_RESERVED"),
        ({"email": "not-an-address"}, "email", "ERR_INVALID"),
        ({"email": ""}, "email", "ERR_BLANK"),
        ({"password": "short"}, "password", "ERR_TOO_SHORT"),
        ({"password": "x" * 73}, "password", "ERR_TOO_LONG"),
        ({"agreement": False}, "agreement", "ERR_ACCEPTED"),
    ],
)
async def test_registration_problems_are_422_with_details_per_field(
    client: Client, res: Resources, fields: dict[str, Any], field: str, code: str
) -> None:
    status, body = await _register(client, **fields)
    assert status == 422
    assert body["error"].startswith(f"Validation failed: {field} ")
    assert [e["error"] for e in body["details"][field]] == [code]
    assert await res.db.fetchval("SELECT count(*) FROM accounts") == 0


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"password": "long enough\x00password"}, "password"), ({"username": ["a", "b"]}, "username")],
)
async def test_a_field_the_parser_refuses_is_a_422_with_details_too(
    client: Client, res: Resources, fields: dict[str, Any], field: str
) -> None:
    # Mastodon's registration 422 always carries details (the OpenAPI schema says so; schemathesis found a NUL
    # in the password answered without them).
    status, body = await _register(client, **fields)
    assert status == 422
    assert body["error"].startswith(f"Validation failed: {field} ")
    assert [e["error"] for e in body["details"][field]] == ["ERR_INVALID"]
    assert await res.db.fetchval("SELECT count(*) FROM accounts") == 0


async def test_usernames_and_emails_are_unique_ignoring_case(client: Client, res: Resources) -> None:
    status, _ = await _register(client, username="Alice", email="Alice@Example.test")
    assert status == 200
    status, body = await _register(client, username="aLICE", email="alice@example.TEST")
    assert status == 422
    assert body["error"] == "Validation failed: username has already been taken, email has already been taken"
    assert body["details"] == {
        "username": [{"error": "ERR_TAKEN", "description": "has already been taken"}],
        "email": [{"error": "ERR_TAKEN", "description": "has already been taken"}],
    }
    assert await res.db.fetchval("SELECT count(*) FROM accounts") == 1
    assert await res.db.fetchval("SELECT count(*) FROM access_tokens WHERE account_id IS NOT NULL") == 1


async def test_several_problems_are_reported_together(client: Client) -> None:
    status, body = await _register(client, username="no spaces", password="short", agreement=False)
    assert status == 422
    assert set(body["details"]) == {"username", "password", "agreement"}


async def test_registering_needs_a_token_with_write_accounts(client: Client) -> None:
    response = await client.post("/api/v1/accounts", json={"username": "x"})
    assert response.status == 401
    app = await register_app(client)
    token = await app_token(client, app, "read")
    response = await client.post(
        "/api/v1/accounts",
        json={"username": "alice", "email": "a@example.test", "password": PASSWORD, "agreement": True},
        headers=bearer(token),
    )
    assert response.status == 403


# The signed-in user ----------------------------------------------------------------------------------


async def test_verify_credentials_needs_a_valid_token(client: Client) -> None:
    assert (await client.get("/api/v1/accounts/verify_credentials")).status == 401
    bad = await client.get("/api/v1/accounts/verify_credentials", headers=bearer("nope"))
    assert bad.status == 401


async def test_update_credentials_changes_the_profile_by_form_or_json(client: Client) -> None:
    token = (await sign_up(client, await register_app(client), "alice"))["access_token"]
    response = await client.patch(
        "/api/v1/accounts/update_credentials",
        data={"display_name": " Alice A. ", "note": "Hi <b>there</b>\n\nsecond", "bot": "true", "locked": "1"},
        headers=bearer(token),
    )
    me = await response.json()
    assert response.status == 200, me
    assert me["display_name"] == "Alice A."
    assert me["note"] == "<p>Hi &lt;b&gt;there&lt;/b&gt;</p><p>second</p>"
    assert me["source"]["note"] == "Hi <b>there</b>\n\nsecond"
    assert me["bot"] is True and me["locked"] is True and me["discoverable"] is True
    response = await client.patch(
        "/api/v1/accounts/update_credentials",
        json={"discoverable": False, "source": {"privacy": "unlisted", "sensitive": True, "language": "de"}},
        headers=bearer(token),
    )
    me = await response.json()
    assert response.status == 200, me
    assert me["discoverable"] is False
    assert me["display_name"] == "Alice A."  # untouched fields stay
    assert me["source"]["privacy"] == "unlisted" and me["source"]["sensitive"] is True
    assert me["source"]["language"] == "de"
    public = await (await client.get(f"/api/v1/accounts/{me['id']}")).json()
    assert public["discoverable"] is False and "source" not in public
    prefs = await (await client.get("/api/v1/preferences", headers=bearer(token))).json()
    assert prefs["posting:default:visibility"] == "unlisted"
    assert prefs["posting:default:sensitive"] is True
    assert prefs["posting:default:language"] == "de"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"display_name": "x" * 31}, "Validation failed: display_name is too long (maximum is 30 characters)"),
        ({"note": "x" * 501}, "Validation failed: note is too long (maximum is 500 characters)"),
        ({"bot": "maybe"}, "Validation failed: bot must be true or false"),
        ({"source[privacy]": "direct"}, "Validation failed: source[privacy] must be one of public, unlisted, private"),
        ({"source[language]": "english"}, "Validation failed: source[language] must be an ISO 639 language code"),
    ],
)
async def test_invalid_profile_changes_are_422_and_change_nothing(
    client: Client, fields: dict[str, str], message: str
) -> None:
    token = (await sign_up(client, await register_app(client), "alice"))["access_token"]
    response = await client.patch("/api/v1/accounts/update_credentials", data=fields, headers=bearer(token))
    assert response.status == 422
    assert (await response.json())["error"] == message
    me = await (await client.get("/api/v1/accounts/verify_credentials", headers=bearer(token))).json()
    assert me["display_name"] == "" and me["note"] == "" and me["bot"] is False


async def test_update_credentials_needs_a_user_token(client: Client) -> None:
    response = await client.patch("/api/v1/accounts/update_credentials", json={"display_name": "x"})
    assert response.status == 401


async def test_preferences_need_a_user(client: Client) -> None:
    assert (await client.get("/api/v1/preferences")).status == 401


# Other accounts --------------------------------------------------------------------------------------


async def test_an_account_is_public_by_id(client: Client, make_user: Any) -> None:
    alice = await make_user("alice")
    response = await client.get(f"/api/v1/accounts/{alice.id}")
    body = await response.json()
    assert response.status == 200
    assert body["id"] == alice.id and body["username"] == "alice"
    assert "source" not in body and "email" not in str(body)
    with_token = await client.get(f"/api/v1/accounts/{alice.id}", headers=alice.headers)
    assert with_token.status == 200


@pytest.mark.parametrize("account_id", ["12345", "999999999999999999999", "abc"])
async def test_an_unknown_account_is_a_404(client: Client, account_id: str) -> None:
    response = await client.get(f"/api/v1/accounts/{account_id}")
    assert response.status == 404
    assert (await response.json())["error"] == "Record not found"


@pytest.mark.parametrize("acct", ["alice", "@alice", "ALICE", "alice@127.0.0.1"])
async def test_lookup_finds_local_accounts_by_acct(client: Client, make_user: Any, acct: str) -> None:
    alice = await make_user("alice")
    response = await client.get("/api/v1/accounts/lookup", params={"acct": acct})
    body = await response.json()
    assert response.status == 200, body
    assert body["id"] == alice.id


@pytest.mark.parametrize(
    ("query", "status"), [({"acct": "bob"}, 404), ({"acct": "alice@elsewhere.example"}, 404), ({}, 422)]
)
async def test_lookup_of_unknown_or_remote_accounts_fails(
    client: Client, make_user: Any, query: dict[str, str], status: int
) -> None:
    await make_user("alice")
    response = await client.get("/api/v1/accounts/lookup", params=query)
    assert response.status == status


async def test_the_default_avatar_and_header_an_account_links_to_are_served(client: Client) -> None:
    status, token = await _register(client)
    assert status == 200, token
    response = await client.get("/api/v1/accounts/verify_credentials", headers=bearer(token["access_token"]))
    me = await response.json()
    for field, size in (("avatar", (400, 400)), ("header", (1500, 500)), ("avatar_static", (400, 400))):
        image = await client.get(urlsplit(me[field]).path)
        assert image.status == 200, me[field]
        assert image.content_type == "image/png"
        with Image.open(io.BytesIO(await image.read())) as picture:
            assert picture.format == "PNG" and picture.size == size


# Profile fields, the role and the complete source (issue 19) -------------------------------------------


async def test_mastodon_py_sets_profile_fields_and_reads_them_back(settings: Settings, make_user: UserFactory) -> None:
    await make_user("admin_first")  # the first account is the admin; alice is not
    alice = await make_user("alice")
    async with serve_app(create_app(settings)) as base_url:
        api = Mastodon(access_token=alice.token, api_base_url=base_url)
        fields = [("Pronouns", "she/her"), ("Site", "https://alice.example/"), ("Tea", "<green>")]
        me = await asyncio.to_thread(api.account_update_credentials, fields=fields)
        assert [(f.name, f.value) for f in me.source.fields] == fields  # as written
        shown = {f.name: f.value for f in me.fields}
        assert shown["Pronouns"] == "she/her"
        assert shown["Tea"] == "&lt;green&gt;"
        assert shown["Site"].startswith('<a href="https://alice.example/"')
        assert all(f.verified_at is None for f in me.fields)
        public = await asyncio.to_thread(api.account, alice.id)
        assert [f.name for f in public.fields] == ["Pronouns", "Site", "Tea"]
        again = await asyncio.to_thread(api.account_verify_credentials)
        assert again.role.id == "-99" and again.role.permissions == "0"
        assert again.source.indexable is True and again.source.discoverable is True


async def test_profile_fields_from_json_replace_all_and_are_limited(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    url = "/api/v1/accounts/update_credentials"
    body = {"fields_attributes": [{"name": "One", "value": "1"}, {"name": "", "value": ""}]}
    me = await expect(await client.patch(url, json=body, headers=alice.headers), 200)
    assert me["fields"] == [{"name": "One", "value": "1", "verified_at": None}]  # the blank pair is dropped
    keyed = {"fields_attributes": {"0": {"name": "Two", "value": "2"}}}
    me = await expect(await client.patch(url, json=keyed, headers=alice.headers), 200)
    assert [f["name"] for f in me["source"]["fields"]] == ["Two"]
    untouched = await expect(await client.patch(url, json={"note": "hi"}, headers=alice.headers), 200)
    assert [f["name"] for f in untouched["fields"]] == ["Two"]  # not given: kept

    five = {"fields_attributes": [{"name": f"n{i}", "value": "v"} for i in range(5)]}
    too_many = await expect(await client.patch(url, json=five, headers=alice.headers), 422)
    assert "fields_attributes" in too_many["error"]
    long = {"fields_attributes[0][name]": "x", "fields_attributes[0][value]": "v" * 256}
    await expect(await client.patch(url, data=long, headers=alice.headers), 422)
    nameless = {"fields_attributes[0][value]": "orphan"}
    await expect(await client.patch(url, data=nameless, headers=alice.headers), 422)
    not_objects = {"fields_attributes": ["a", "b"]}
    await expect(await client.patch(url, json=not_objects, headers=alice.headers), 422)
    cleared = await expect(await client.patch(url, json={"fields_attributes": []}, headers=alice.headers), 200)
    assert cleared["fields"] == []
