"""Moderation (issue 22): the admin role, the admin API for reports and accounts, and what each action does.

A suspended account cannot sign in (password grant, the sign-in page), its tokens stop at once (the token
cache too), and its posts leave every timeline (home, public, hashtag, list), its profile, threads, single
posts, search and streams (websocket and resume); unsuspending brings all of it back. A silenced account's
posts leave public and hashtag timelines and the public stream only. A disabled account cannot sign in.
Every action leaves a `moderation_warning` notification. Non-staff get 403; bad input a clear 4xx.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import UserFactory
from live import serve_app
from oauth_flow import OOB, PASSWORD, bearer, register_app, request_token, sign_up
from social import Client, User, expect, follow, post_status
from streams import connect, frames_until, hub_settled, online, run_queues
from test_search import index_pending, sclient, search, search_settings, sres  # noqa: F401 (fixtures)

from api.keys import RESOURCES
from app.main import create_app
from config import Settings
from storage.resources import Resources

STAFF_SCOPES = ("read", "write", "follow", "admin:read", "admin:write")
DELIVERY_QUEUES = ("timeline", "streaming", "notifications", "post_cache")
REPO_ROOT = Path(__file__).resolve().parent.parent


async def deliver(res: Resources) -> None:
    await run_queues(res, *DELIVERY_QUEUES)


async def act(client: Client, moderator: User, target: User | str, status: int = 200, **params: Any) -> Any:
    target_id = target if isinstance(target, str) else target.id
    return await expect(
        await client.post(f"/api/v1/admin/accounts/{target_id}/action", json=params, headers=moderator.headers),
        status,
    )


async def lift(client: Client, moderator: User, target: User, route: str, status: int = 200) -> Any:
    return await expect(
        await client.post(f"/api/v1/admin/accounts/{target.id}/{route}", headers=moderator.headers), status
    )


async def ids(client: Client, path: str, user: User | None = None, **params: Any) -> list[str]:
    body = await expect(await client.get(path, params=params, headers=user.headers if user else {}), 200)
    return [status["id"] for status in body]


async def report(client: Client, reporter: User, target: User, **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = await expect(
        await client.post("/api/v1/reports", json={"account_id": target.id, **params}, headers=reporter.headers), 200
    )
    return body


def chirp_admin(stack_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "admin", *args],
        env={**stack_env, "PATH": "/usr/bin:/bin"},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


# the role -------------------------------------------------------------------------------------------------


async def test_the_first_account_is_the_admin_and_chirp_admin_grants_and_revokes_the_role(
    client: Client, make_user: UserFactory, stack_env: dict[str, str]
) -> None:
    boss = await make_user("boss", scopes=STAFF_SCOPES)
    bob = await make_user("bob", scopes=STAFF_SCOPES)
    me = await expect(await client.get("/api/v1/accounts/verify_credentials", headers=boss.headers), 200)
    assert me["role"] == {"id": "3", "name": "Admin", "permissions": "1", "color": "", "highlighted": True}
    shown = await expect(await client.get(f"/api/v1/accounts/{boss.id}"), 200)
    assert shown["roles"] == [{"id": "3", "name": "Admin", "color": ""}]
    plain = await expect(await client.get("/api/v1/accounts/verify_credentials", headers=bob.headers), 200)
    assert plain["role"]["id"] == "-99" and plain["roles"] == []
    refused = await expect(await client.get("/api/v2/admin/accounts", headers=bob.headers), 403)
    assert refused["error"]

    granted = await asyncio.to_thread(chirp_admin, stack_env, "grant", "bob", "--role", "moderator")
    assert granted.returncode == 0, granted.stderr
    assert "bob is now a moderator" in granted.stdout
    moderator = await expect(await client.get("/api/v1/accounts/verify_credentials", headers=bob.headers), 200)
    assert moderator["role"]["name"] == "Moderator" and int(moderator["role"]["permissions"]) & (1 << 4)
    listed = await expect(await client.get("/api/v2/admin/accounts", headers=bob.headers), 200)
    assert {a["username"] for a in listed} == {"boss", "bob"}
    # A moderator may not act on an admin.
    await act(client, bob, boss, 403, type="silence")

    revoked = await asyncio.to_thread(chirp_admin, stack_env, "revoke", "bob")
    assert revoked.returncode == 0, revoked.stderr
    await expect(await client.get("/api/v2/admin/accounts", headers=bob.headers), 403)
    missing = await asyncio.to_thread(chirp_admin, stack_env, "grant", "nobody")
    assert missing.returncode == 1 and "no account nobody" in missing.stderr


async def test_apps_may_ask_for_the_admin_scopes_and_plain_read_and_write_do_not_grant_them(
    client: Client, make_user: UserFactory
) -> None:
    app = await register_app(client, scopes="read write admin:read admin:write:reports")
    assert app.scopes == ["read", "write", "admin:read", "admin:write:reports"]
    await sign_up(client, app, "boss")  # the first account: the admin
    status, token = await request_token(
        client, app, grant_type="password", username="boss", password=PASSWORD, scope="read admin:read:reports"
    )
    assert status == 200, token
    assert (await client.get("/api/v1/admin/reports", headers=bearer(token["access_token"]))).status == 200
    # admin:read:reports covers neither accounts nor writing.
    assert (await client.get("/api/v2/admin/accounts", headers=bearer(token["access_token"]))).status == 403
    status, _ = await request_token(
        client, app, grant_type="password", username="boss", password=PASSWORD, scope="admin:write:accounts"
    )
    assert status == 400  # beyond what the app registered
    boss_plain = await make_user("boss2", scopes=("read", "write"))
    await expect(await client.get("/api/v1/admin/reports", headers=boss_plain.headers), 403)


# reports ---------------------------------------------------------------------------------------------------


async def test_reports_are_listed_assigned_resolved_and_reopened(client: Client, make_user: UserFactory) -> None:
    boss = await make_user("boss", scopes=STAFF_SCOPES)
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    post = await post_status(client, bob, "something rude")
    about_bob = await report(client, alice, bob, status_ids=[post["id"]], comment="rude", category="violation")
    about_carol = await report(client, alice, carol)
    by_bob = await report(client, bob, carol, category="spam")

    def listed(body: list[dict[str, Any]]) -> list[str]:
        return [r["id"] for r in body]

    open_reports = await expect(await client.get("/api/v1/admin/reports", headers=boss.headers), 200)
    assert listed(open_reports) == [by_bob["id"], about_carol["id"], about_bob["id"]]
    first = open_reports[-1]
    assert first["account"]["username"] == "alice" and first["target_account"]["username"] == "bob"
    assert first["target_account"]["account"]["username"] == "bob" and first["comment"] == "rude"
    assert [s["content"] for s in first["statuses"]] == ["<p>something rude</p>"]
    assert first["action_taken"] is False and first["assigned_account"] is None
    about = await expect(
        await client.get("/api/v1/admin/reports", params={"target_account_id": carol.id}, headers=boss.headers), 200
    )
    assert listed(about) == [by_bob["id"], about_carol["id"]]
    filed = await expect(
        await client.get("/api/v1/admin/reports", params={"account_id": bob.id}, headers=boss.headers), 200
    )
    assert listed(filed) == [by_bob["id"]]

    path = f"/api/v1/admin/reports/{about_bob['id']}"
    assigned = await expect(await client.post(f"{path}/assign_to_self", headers=boss.headers), 200)
    assert assigned["assigned_account"]["id"] == boss.id
    unassigned = await expect(await client.post(f"{path}/unassign", headers=boss.headers), 200)
    assert unassigned["assigned_account"] is None
    resolved = await expect(await client.post(f"{path}/resolve", headers=boss.headers), 200)
    assert resolved["action_taken"] is True and resolved["action_taken_by_account"]["id"] == boss.id
    still_open = await expect(await client.get("/api/v1/admin/reports", headers=boss.headers), 200)
    assert about_bob["id"] not in listed(still_open)
    done = await expect(
        await client.get("/api/v1/admin/reports", params={"resolved": "true"}, headers=boss.headers), 200
    )
    assert listed(done) == [about_bob["id"]]
    everything = await expect(
        await client.get(
            "/api/v1/admin/reports", params={"resolved": "true", "unresolved": "true"}, headers=boss.headers
        ),
        200,
    )
    assert len(everything) == 3
    reopened = await expect(await client.post(f"{path}/reopen", headers=boss.headers), 200)
    assert reopened["action_taken"] is False and reopened["action_taken_by_account"] is None
    shown = await expect(await client.get(path, headers=boss.headers), 200)
    assert shown["action_taken"] is False

    # An action on an account resolves every open report about it; `none` only the report it names.
    await act(client, boss, carol, type="none", report_id=about_carol["id"], text="mind the rules")
    open_now = listed(await expect(await client.get("/api/v1/admin/reports", headers=boss.headers), 200))
    assert open_now == [by_bob["id"], about_bob["id"]]
    await act(client, boss, bob, type="silence")
    open_now = listed(await expect(await client.get("/api/v1/admin/reports", headers=boss.headers), 200))
    assert open_now == [by_bob["id"]]


# the effects of a suspension --------------------------------------------------------------------------------


async def test_a_suspension_hides_the_account_everywhere_and_unsuspending_brings_it_all_back(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    boss = await make_user("boss", scopes=STAFF_SCOPES)
    alice, bob, carol, dave = [await make_user(name) for name in ("alice", "bob", "carol", "dave")]
    await follow(client, alice, bob)
    await follow(client, alice, carol)
    await follow(client, dave, carol)  # sees bob's post only as carol's repost
    root = await post_status(client, carol, "carol starts")
    top = await post_status(client, bob, "bob on #topic")
    reply = await post_status(client, bob, "bob answers", in_reply_to_id=root["id"])
    repost = await expect(await client.post(f"/api/v1/statuses/{top['id']}/reblog", headers=carol.headers), 200)
    friends = await expect(await client.post("/api/v1/lists", json={"title": "friends"}, headers=alice.headers), 200)
    await expect(
        await client.post(
            f"/api/v1/lists/{friends['id']}/accounts", json={"account_ids": [bob.id]}, headers=alice.headers
        ),
        200,
    )
    await deliver(res)
    tag = "/api/v1/timelines/tag/topic"
    list_path = f"/api/v1/timelines/list/{friends['id']}"
    profile = f"/api/v1/accounts/{bob.id}/statuses"

    async def seen(viewer: User | None) -> dict[str, list[str]]:
        thread = await expect(
            await client.get(f"/api/v1/statuses/{root['id']}/context", headers=viewer.headers if viewer else {}), 200
        )
        return {
            "public": await ids(client, "/api/v1/timelines/public", viewer),
            "tag": await ids(client, tag, viewer),
            "profile": await ids(client, profile, viewer),
            "thread": [s["id"] for s in thread["descendants"]],
        }

    # Read once before: the post cache and the token cache hold what these reads need.
    before = await seen(alice)
    assert top["id"] in before["public"] and top["id"] in before["tag"] and reply["id"] in before["thread"]
    assert top["id"] in await ids(client, "/api/v1/timelines/home", alice)
    assert repost["id"] in await ids(client, "/api/v1/timelines/home", dave)
    assert top["id"] in await ids(client, list_path, alice)
    await expect(await client.get("/api/v1/accounts/verify_credentials", headers=bob.headers), 200)
    api_res = client.app[RESOURCES]
    bobs_token = await res.db.fetchval("SELECT id FROM access_tokens WHERE account_id = $1", bob.account_id)
    assert api_res.tokens.holds(bobs_token)  # cached: a request with it asks PostgreSQL nothing

    assert await act(client, boss, bob, type="suspend", text="spam") == {}
    await deliver(res)

    assert not api_res.tokens.holds(bobs_token)
    await expect(await client.get("/api/v1/accounts/verify_credentials", headers=bob.headers), 401)
    await expect(await client.post("/api/v1/statuses", json={"status": "still here"}, headers=bob.headers), 401)
    for viewer in (alice, None):
        after = await seen(viewer)
        assert top["id"] not in after["public"] and top["id"] not in after["tag"]
        assert after["profile"] == [] and after["thread"] == []
        for hidden in (top, reply):
            headers = viewer.headers if viewer else {}
            await expect(await client.get(f"/api/v1/statuses/{hidden['id']}", headers=headers), 404)
    alices_home = await ids(client, "/api/v1/timelines/home", alice)
    assert top["id"] not in alices_home and root["id"] in alices_home
    assert await ids(client, "/api/v1/timelines/home", dave) == [root["id"]]  # the repost of bob's post went
    assert await ids(client, list_path, alice) == []
    account = await expect(await client.get(f"/api/v1/accounts/{bob.id}"), 200)
    assert account["suspended"] is True
    await expect(await client.post(f"/api/v1/statuses/{top['id']}/favourite", headers=alice.headers), 404)
    admin_view = await expect(await client.get(f"/api/v1/admin/accounts/{bob.id}", headers=boss.headers), 200)
    assert admin_view["suspended"] is True and admin_view["account"]["id"] == bob.id

    lifted = await lift(client, boss, bob, "unsuspend")
    assert lifted["suspended"] is False
    await deliver(res)

    await expect(await client.get("/api/v1/accounts/verify_credentials", headers=bob.headers), 200)
    back = await seen(alice)
    assert top["id"] in back["public"] and top["id"] in back["tag"]
    assert back["profile"] == [reply["id"], top["id"]] and back["thread"] == [reply["id"]]
    assert top["id"] in await ids(client, "/api/v1/timelines/home", alice)
    assert await ids(client, "/api/v1/timelines/home", dave) == [repost["id"], root["id"]]
    assert top["id"] in await ids(client, list_path, alice)
    assert "suspended" not in await expect(await client.get(f"/api/v1/accounts/{bob.id}"), 200)


async def test_a_suspended_account_cannot_sign_in_by_password_or_on_the_sign_in_page(
    client: Client, make_user: UserFactory
) -> None:
    app = await register_app(client, scopes="read write follow admin:read admin:write")
    boss_token = (await sign_up(client, app, "boss"))["access_token"]
    boss = User(0, "boss", boss_token)
    await sign_up(client, app, "bob")
    bob_id = (await expect(await client.get("/api/v1/accounts/lookup", params={"acct": "bob"}), 200))["id"]
    for action, lifted_by in (("suspend", "unsuspend"), ("disable", "enable")):
        await act(client, boss, bob_id, type=action)
        status, refused = await request_token(client, app, grant_type="password", username="bob", password=PASSWORD)
        assert status == 400 and refused["error"] == "invalid_grant", refused
        assert refused["error_description"] == "Your login is currently disabled"
        query = {"response_type": "code", "client_id": app.client_id, "redirect_uri": OOB, "scope": "read"}
        form = await (await client.get("/oauth/authorize", params=query)).text()
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert csrf is not None
        page = await client.post(
            "/oauth/authorize",
            data={**query, "csrf_token": csrf.group(1), "username": "bob", "password": PASSWORD, "decision": "approve"},
        )
        assert page.status == 401 and "Your login is currently disabled." in await page.text()
        await expect(await client.post(f"/api/v1/admin/accounts/{bob_id}/{lifted_by}", headers=boss.headers), 200)
        status, token = await request_token(client, app, grant_type="password", username="bob", password=PASSWORD)
        assert status == 200, token


async def test_a_disabled_accounts_tokens_stop_and_work_again_once_enabled(
    client: Client, make_user: UserFactory
) -> None:
    boss = await make_user("boss", scopes=STAFF_SCOPES)
    bob = await make_user("bob")
    await expect(await client.get("/api/v1/accounts/verify_credentials", headers=bob.headers), 200)
    await act(client, boss, bob, type="disable")
    await expect(await client.get("/api/v1/accounts/verify_credentials", headers=bob.headers), 401)
    listed = await expect(
        await client.get("/api/v2/admin/accounts", params={"status": "disabled"}, headers=boss.headers), 200
    )
    assert [a["username"] for a in listed] == ["bob"] and listed[0]["disabled"] is True
    enabled = await lift(client, boss, bob, "enable")
    assert enabled["disabled"] is False
    await expect(await client.get("/api/v1/accounts/verify_credentials", headers=bob.headers), 200)


async def test_search_leaves_out_a_suspended_account_and_its_posts_until_it_is_unsuspended(
    sclient: Client,  # noqa: F811
    sres: Resources,  # noqa: F811
    make_user: UserFactory,
) -> None:
    boss = await make_user("boss", scopes=STAFF_SCOPES)
    alice, zed = await make_user("alice"), await make_user("zebrafan")
    await post_status(sclient, zed, "zebra crossing")
    # make_user writes no account.created: a profile change puts the account in the search index.
    await expect(
        await sclient.patch("/api/v1/accounts/update_credentials", json={"display_name": "Zed"}, headers=zed.headers),
        200,
    )
    await index_pending(sres)

    async def found() -> tuple[list[str], list[str]]:
        posts = await search(sclient, "zebra", alice, type="statuses")
        accounts = await search(sclient, "zebrafan", alice, type="accounts")
        return [s["content"] for s in posts["statuses"]], [a["username"] for a in accounts["accounts"]]

    assert await found() == (["<p>zebra crossing</p>"], ["zebrafan"])
    await act(sclient, boss, zed, type="suspend")
    await index_pending(sres)
    assert await found() == ([], [])
    await lift(sclient, boss, zed, "unsuspend")
    await index_pending(sres)
    assert await found() == (["<p>zebra crossing</p>"], ["zebrafan"])


def _update_of(status: dict[str, Any]) -> Any:
    return lambda f: f["event"] == "update" and f["payload"]["id"] == status["id"]


async def test_a_suspended_accounts_posts_reach_no_stream_nor_a_resumed_one(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    boss = await make_user("boss", scopes=STAFF_SCOPES)
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, alice, bob)
    await follow(client, alice, carol)
    first = await post_status(client, carol, "before")
    await deliver(res)
    home_ws = await connect(client, alice.token, stream="user")
    public_ws = await connect(client, alice.token, stream="public")
    anonymous_ws = await connect(client, None, stream="public")
    await online(res, alice.account_id)

    queued = await post_status(client, bob, "written just before the suspension")
    await act(client, boss, bob, type="suspend")
    sentinel = await post_status(client, carol, "seen")
    await deliver(res)
    for ws in (home_ws, public_ws, anonymous_ws):
        got = await frames_until(ws, _update_of(sentinel))
        assert queued["id"] not in {f["payload"]["id"] for f in got if f["event"] == "update"}
        await ws.close()
    resumed = await connect(client, alice.token, stream="user", last_event_id=first["id"])
    await online(res, alice.account_id)
    live = await post_status(client, carol, "live")
    await deliver(res)
    got = await frames_until(resumed, _update_of(live))
    assert [f["payload"]["id"] for f in got if f["event"] == "update"] == [sentinel["id"], live["id"]]
    await resumed.close()

    await lift(client, boss, bob, "unsuspend")
    public_again = await connect(client, alice.token, stream="public")
    await hub_settled(client)
    back = await post_status(client, bob, "back again")
    await deliver(res)
    await frames_until(public_again, _update_of(back))
    await public_again.close()


# silence -------------------------------------------------------------------------------------------------


async def test_a_silenced_accounts_posts_stay_out_of_public_timelines_and_stream_but_not_home_or_profile(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    boss = await make_user("boss", scopes=STAFF_SCOPES)
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    await follow(client, alice, bob)
    await act(client, boss, bob, type="silence", text="calm down")
    public_ws = await connect(client, carol.token, stream="public")
    await hub_settled(client)
    quiet = await post_status(client, bob, "bob on #topic")
    sentinel = await post_status(client, carol, "carol on #topic")
    await deliver(res)
    got = await frames_until(public_ws, _update_of(sentinel))
    assert quiet["id"] not in {f["payload"]["id"] for f in got if f["event"] == "update"}
    await public_ws.close()
    for viewer in (alice, carol, None):
        assert await ids(client, "/api/v1/timelines/public", viewer) == [sentinel["id"]]
        assert await ids(client, "/api/v1/timelines/tag/topic", viewer) == [sentinel["id"]]
    assert quiet["id"] in await ids(client, "/api/v1/timelines/home", alice)
    assert await ids(client, f"/api/v1/accounts/{bob.id}/statuses", carol) == [quiet["id"]]
    await expect(await client.get(f"/api/v1/statuses/{quiet['id']}", headers=carol.headers), 200)
    shown = await expect(await client.get(f"/api/v1/accounts/{bob.id}"), 200)
    assert shown["limited"] is True
    silenced = await expect(
        await client.get("/api/v2/admin/accounts", params={"status": "silenced"}, headers=boss.headers), 200
    )
    assert [a["username"] for a in silenced] == ["bob"] and silenced[0]["silenced"] is True

    await lift(client, boss, bob, "unsilence")
    assert await ids(client, "/api/v1/timelines/public", carol) == [sentinel["id"], quiet["id"]]
    assert await ids(client, "/api/v1/timelines/tag/topic", None) == [sentinel["id"], quiet["id"]]


# warnings --------------------------------------------------------------------------------------------------


async def test_each_action_warns_the_account_with_a_moderation_warning_notification(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    boss = await make_user("boss", scopes=STAFF_SCOPES)
    bob = await make_user("bob")
    await act(client, boss, bob, type="none", text="Please mind the rules.")
    await act(client, boss, bob, type="sensitive", text="Mark your media.")
    await act(client, boss, bob, type="none", text="Not told", send_email_notification=False)
    body = await expect(await client.get("/api/v1/notifications", headers=bob.headers), 200)
    assert [n["type"] for n in body] == ["moderation_warning", "moderation_warning"]
    newest = body[0]
    assert newest["moderation_warning"]["action"] == "sensitive"
    assert newest["moderation_warning"]["text"] == "Mark your media."
    assert newest["moderation_warning"]["target_account"]["id"] == bob.id
    assert newest["account"]["id"] == bob.id  # who moderated is not told, as in Mastodon
    assert body[1]["moderation_warning"]["text"] == "Please mind the rules."
    grouped = await expect(await client.get("/api/v2/notifications", headers=bob.headers), 200)
    assert [g["type"] for g in grouped["notification_groups"]] == ["moderation_warning", "moderation_warning"]
    one = await expect(await client.get(f"/api/v1/notifications/{newest['id']}", headers=bob.headers), 200)
    assert one["moderation_warning"]["id"] == newest["moderation_warning"]["id"]
    admin_view = await expect(await client.get(f"/api/v1/admin/accounts/{bob.id}", headers=boss.headers), 200)
    assert admin_view["sensitized"] is True
    assert (await lift(client, boss, bob, "unsensitive"))["sensitized"] is False
    assert (
        await res.db.fetchval("SELECT count(*) FROM account_warnings WHERE target_account_id = $1", bob.account_id) == 3
    )


# the account listing -----------------------------------------------------------------------------------------


async def test_the_admin_account_listing_filters_and_pages(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    boss = await make_user("boss", scopes=STAFF_SCOPES)
    users = [await make_user(name) for name in ("alice", "alfred", "bob")]
    await res.db.execute("UPDATE accounts SET last_sign_in_ip = '10.1.2.3' WHERE id = $1", users[2].account_id)
    await res.db.execute("UPDATE accounts SET display_name = 'Fred the Great' WHERE id = $1", users[1].account_id)

    async def names(**params: str) -> list[str]:
        body = await expect(await client.get("/api/v2/admin/accounts", params=params, headers=boss.headers), 200)
        return [a["username"] for a in body]

    assert await names() == ["bob", "alfred", "alice", "boss"]
    assert await names(username="AL") == ["alfred", "alice"]
    assert await names(display_name="fred") == ["alfred"]
    assert await names(email="bob@") == ["bob"]
    assert await names(ip="10.1.2.3") == ["bob"]
    assert await names(ip="10.1.0.0/16") == ["bob"]
    assert await names(permissions="staff") == ["boss"]
    assert await names(origin="remote") == []
    assert await names(origin="local", status="active") == ["bob", "alfred", "alice", "boss"]
    assert await names(status="pending") == []
    first = await client.get("/api/v2/admin/accounts", params={"limit": "2"}, headers=boss.headers)
    assert [a["username"] for a in await first.json()] == ["bob", "alfred"]
    assert 'rel="next"' in first.headers["Link"]
    bob = await expect(await client.get(f"/api/v1/admin/accounts/{users[2].id}", headers=boss.headers), 200)
    assert bob["ip"] == "10.1.2.3" and bob["email"] == "bob@example.test" and bob["role"]["id"] == "-99"


# refusals and bad input ----------------------------------------------------------------------------------------


async def test_non_staff_get_403_and_bad_input_a_clear_4xx(client: Client, make_user: UserFactory) -> None:
    boss = await make_user("boss", scopes=STAFF_SCOPES)
    alice = await make_user("alice", scopes=STAFF_SCOPES)
    bob = await make_user("bob")
    mine = await report(client, alice, bob)
    for method, path in (
        ("get", "/api/v1/admin/reports"),
        ("get", f"/api/v1/admin/reports/{mine['id']}"),
        ("post", f"/api/v1/admin/reports/{mine['id']}/resolve"),
        ("get", "/api/v2/admin/accounts"),
        ("get", f"/api/v1/admin/accounts/{bob.id}"),
        ("post", f"/api/v1/admin/accounts/{bob.id}/action"),
        ("post", f"/api/v1/admin/accounts/{bob.id}/unsuspend"),
    ):
        refused = await expect(await client.request(method, path, headers=alice.headers), 403)
        assert refused["error"] == "This action is not allowed"
        await expect(await client.request(method, path), 401)

    unknown_type = await act(client, boss, bob, 422, type="banish")
    assert "type" in unknown_type["error"]
    await act(client, boss, "999999", 404, type="suspend")
    await expect(await client.get("/api/v1/admin/accounts/999999", headers=boss.headers), 404)
    await expect(await client.post("/api/v1/admin/accounts/999999/unsuspend", headers=boss.headers), 404)
    await expect(await client.get("/api/v1/admin/reports/999999", headers=boss.headers), 404)
    await expect(await client.post("/api/v1/admin/reports/999999/assign_to_self", headers=boss.headers), 404)
    other = await report(client, bob, alice)
    await act(client, boss, bob, 404, type="none", report_id=other["id"])  # a report about someone else
    await act(client, boss, bob, 422, type="none", report_id="not-an-id")
    await act(client, boss, boss, 403, type="suspend")  # not oneself
    bad_ip = await expect(await client.get("/api/v2/admin/accounts", params={"ip": "x.y"}, headers=boss.headers), 422)
    assert "ip" in bad_ip["error"]
    await expect(await client.get("/api/v2/admin/accounts", params={"status": "gone"}, headers=boss.headers), 422)
    await expect(await client.get("/api/v1/admin/reports", params={"account_id": "x"}, headers=boss.headers), 422)
    await act(client, boss, bob, 422, type="none", text="x" * 5001)


# Mastodon.py's admin calls ---------------------------------------------------------------------------------


async def test_mastodon_py_moderates_with_its_admin_calls(settings: Settings) -> None:
    from mastodon import Mastodon, MastodonAPIError, MastodonUnauthorizedError

    def run(base_url: str) -> None:
        scopes = ["read", "write", "follow", "admin:read", "admin:write"]
        client_id, client_secret = Mastodon.create_app("moderator", api_base_url=base_url, scopes=scopes)
        registrar = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=base_url)
        tokens = {
            name: registrar.create_account(name, PASSWORD, f"{name}@example.test", agreement=True, scopes=scopes)
            for name in ("boss", "alice", "bob")
        }
        boss, alice, bob = (Mastodon(access_token=tokens[n], api_base_url=base_url) for n in ("boss", "alice", "bob"))
        bob_id = bob.me().id
        spam = bob.status_post("buy my pills")
        filed = alice.report(bob_id, status_ids=[spam.id], comment="spam", category="spam")

        reports = boss.admin_reports()
        assert [r.id for r in reports] == [filed.id]
        assert reports[0].target_account.account.id == bob_id and reports[0].statuses[0].id == spam.id
        assert boss.admin_report(filed.id).comment == "spam"
        assert boss.admin_report_assign(filed.id).assigned_account.username == "boss"
        assert boss.admin_report_unassign(filed.id).assigned_account is None
        assert boss.admin_report_resolve(filed.id).action_taken is True
        assert boss.admin_reports() == [] and [r.id for r in boss.admin_reports(resolved=True)] == [filed.id]
        assert boss.admin_report_reopen(filed.id).action_taken is False

        boss.admin_account_moderate(bob_id, "silence", report_id=filed.id, text="Calm down, please.")
        assert boss.admin_reports() == []
        assert [a.username for a in boss.admin_accounts_v2(status="silenced")] == ["bob"]
        assert boss.admin_account(bob_id).silenced is True
        warning = bob.notifications()[0]
        assert warning.type == "moderation_warning" and warning.moderation_warning.text == "Calm down, please."
        assert boss.admin_account_unsilence(bob_id).silenced is False

        boss.admin_account_moderate(bob_id, "suspend")
        try:
            bob.me()
            raise AssertionError("a suspended account's token still works")
        except MastodonUnauthorizedError:
            pass
        assert [a.username for a in boss.admin_accounts_v2(status="suspended")] == ["bob"]
        assert [a.username for a in boss.admin_accounts_v2(permissions="staff")] == ["boss"]
        assert boss.admin_account_unsuspend(bob_id).suspended is False
        assert bob.me().id == bob_id

        boss.admin_account_moderate(bob_id, "sensitive")
        assert boss.admin_account_unsensitive(bob_id).sensitized is False
        boss.admin_account_moderate(bob_id, "disable")
        assert boss.admin_account_enable(bob_id).disabled is False
        try:
            alice.admin_reports()
            raise AssertionError("a user without the role read the reports")
        except MastodonAPIError as error:
            assert error.args[1] == 403

    async with serve_app(create_app(settings)) as base_url:
        await asyncio.to_thread(run, base_url)
