"""The real Mastodon.py library against a real HTTP server: what an existing client does, end to end.

Mastodon.py is synchronous, so it runs in a thread while the server runs on the test's event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from live import serve_app
from mastodon import Mastodon, MastodonIllegalArgumentError

from app.main import create_app
from config import Settings

PASSWORD = "correct horse battery"


@pytest.fixture
async def base_url(settings: Settings) -> AsyncIterator[str]:
    async with serve_app(create_app(settings)) as url:
        yield url


def sign_up_and_in(base_url: str) -> tuple[Mastodon, str]:
    """Register an app, an account (with the app's token), then sign in with the password grant."""
    client_id, client_secret = Mastodon.create_app("chirp-test", api_base_url=base_url)
    registrar = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=base_url)
    registered_token = registrar.create_account("alice", PASSWORD, "alice@example.test", agreement=True)
    assert registered_token
    api = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=base_url)
    token = api.log_in("alice@example.test", PASSWORD, allow_http=True)
    return api, token


async def test_mastodon_py_registers_signs_in_and_reads_the_account_and_instance(base_url: str) -> None:
    api, token = await asyncio.to_thread(sign_up_and_in, base_url)
    assert token
    me = await asyncio.to_thread(api.account_verify_credentials)
    assert me.username == "alice" and me.acct == "alice"
    assert me.source.privacy == "public"
    instance = await asyncio.to_thread(api.instance)
    assert instance.version.startswith("4.5.0 (compatible; Chirp ")
    assert instance.configuration.statuses.max_characters == 500
    assert instance.api_versions.mastodon >= 2
    assert api.ratelimit_limit == 300  # read from the X-RateLimit-* headers
    assert 0 < api.ratelimit_remaining < 300


async def test_mastodon_py_sees_a_wrong_password_as_an_error(base_url: str) -> None:
    def wrong_password() -> None:
        client_id, client_secret = Mastodon.create_app("chirp-test", api_base_url=base_url)
        registrar = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=base_url)
        registrar.create_account("alice", PASSWORD, "alice@example.test", agreement=True)
        api = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=base_url)
        api.log_in("alice", "not the password", allow_http=True)

    with pytest.raises(MastodonIllegalArgumentError, match="invalid_grant"):
        await asyncio.to_thread(wrong_password)


async def test_mastodon_py_blocks_mutes_and_reads_the_relationships(base_url: str) -> None:
    def run() -> None:
        api, _ = sign_up_and_in(base_url)
        client_id, client_secret = Mastodon.create_app("chirp-test-2", api_base_url=base_url)
        registrar = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=base_url)
        bob_token = registrar.create_account("bob", PASSWORD, "bob@example.test", agreement=True)
        bob = Mastodon(access_token=bob_token, api_base_url=base_url)
        bob_id = bob.account_verify_credentials().id
        api.account_follow(bob_id)
        blocked = api.account_block(bob_id)
        assert blocked.blocking and not blocked.following
        assert [a.id for a in api.blocks()] == [bob_id]
        assert bob.account_relationships(api.me().id)[0].blocked_by
        api.account_unblock(bob_id)
        muted = api.account_mute(bob_id, notifications=False, duration=600)
        assert muted.muting and not muted.muting_notifications
        mutes = api.mutes()
        assert [a.id for a in mutes] == [bob_id] and mutes[0].mute_expires_at is not None
        api.account_unmute(bob_id)
        assert api.mutes() == []
        note = api.account_note_set(bob_id, "met at the conference")
        assert note.note == "met at the conference"
        post = api.status_post("a thread")
        assert api.status_mute(post.id).muted is True
        assert api.status_unmute(post.id).muted is False
        assert api.domain_blocks() == []

    await asyncio.to_thread(run)
