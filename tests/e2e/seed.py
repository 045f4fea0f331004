"""A small, lively instance made through the public API (as any client would), for the screenshots."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp

from e2e.people import PASSWORD, picture

SCOPES = "read write follow push"


@dataclass
class Member:
    username: str
    token: str
    id: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Api:
    """JSON requests to one server; every answer is checked, so a broken seed fails loudly."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base = base_url

    async def call(self, method: str, path: str, who: Member | None = None, **kwargs: Any) -> Any:
        headers = who.headers if who else {}
        async with self.session.request(method, self.base + path, headers=headers, **kwargs) as response:
            body = await response.json() if response.content_type == "application/json" else None
            assert response.status < 300, f"{method} {path}: {response.status} {body}"
            return body

    async def sign_up(self, username: str, display_name: str, note: str) -> Member:
        app = await self.call(
            "POST",
            "/api/v1/apps",
            json={"client_name": "seed", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob", "scopes": SCOPES},
        )
        grant = {
            "grant_type": "client_credentials",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "scope": SCOPES,
        }
        app_token = (await self.call("POST", "/oauth/token", data=grant))["access_token"]
        form = {"username": username, "email": f"{username}@example.test", "password": PASSWORD, "agreement": "true"}
        token = await self.call("POST", "/api/v1/accounts", Member("", app_token), json=form)
        member = Member(username, token["access_token"])
        account = await self.call(
            "PATCH", "/api/v1/accounts/update_credentials", member, json={"display_name": display_name, "note": note}
        )
        member.id = account["id"]
        return member

    async def upload(self, who: Member, data: bytes, alt: str) -> str:
        """The chunked upload (INIT, APPEND, FINALIZE, STATUS), as the web client does it."""
        init = await self.call(
            "POST",
            "/api/v1/media/upload",
            who,
            data={"command": "INIT", "media_type": "image/jpeg", "total_bytes": str(len(data))},
        )
        media_id = init["media_id_string"]
        form = aiohttp.FormData()
        form.add_field("command", "APPEND")
        form.add_field("media_id", media_id)
        form.add_field("segment_index", "0")
        form.add_field("media", data, filename="photo.jpg", content_type="application/octet-stream")
        await self.call("POST", "/api/v1/media/upload", who, data=form)
        info = (
            await self.call("POST", "/api/v1/media/upload", who, data={"command": "FINALIZE", "media_id": media_id})
        )["processing_info"]
        while info["state"] != "succeeded":
            assert info["state"] != "failed", info
            await asyncio.sleep(0.3)
            info = (
                await self.call("GET", "/api/v1/media/upload", who, params={"command": "STATUS", "media_id": media_id})
            )["processing_info"]
        await self.call("PUT", f"/api/v1/media/{media_id}", who, json={"description": alt})
        return str(media_id)

    async def indexed(self, who: Member, q: str, kind: str) -> None:
        """Wait until search finds `q` among `kind`: the worker indexes in the background."""
        for _ in range(100):
            found = await self.call("GET", "/api/v2/search", who, params={"q": q, "type": kind})
            if found[kind]:
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"search never found {q!r} among {kind}")

    async def post(self, who: Member, text: str, **extra: Any) -> str:
        status = await self.call("POST", "/api/v1/statuses", who, json={"status": text, **extra})
        return str(status["id"])


@dataclass
class World:
    alice: Member
    bob: Member
    carol: Member
    coffee_id: str  # a post with a conversation under it


async def seed(base_url: str) -> World:
    async with aiohttp.ClientSession() as session:
        api = Api(session, base_url)
        alice = await api.sign_up("alice", "Alice Moreau", "Cyclist, tea person, writes software for libraries.")
        bob = await api.sign_up("bob", "Bob Okafor", "Maintainer of small open-source things. #opensource")
        carol = await api.sign_up("carol", "Carol Nguyen", "Landscape photographer. Mostly mountains.")
        for follower, followed in ((alice, bob), (alice, carol), (bob, alice), (carol, alice), (carol, bob)):
            await api.call("POST", f"/api/v1/accounts/{followed.id}/follow", follower)

        release_text = "Shipped version 2.0 of our static site generator 🎉 https://example.com/changelog #opensource"
        release = await api.post(bob, release_text)
        coffee = await api.post(alice, "Anyone up for a coffee near the station later? ☕")
        answer = await api.post(bob, "@alice I'm in! 4pm?", in_reply_to_id=coffee)
        await api.post(carol, "@bob @alice count me in too", in_reply_to_id=answer)
        await api.post(alice, "@bob 4pm works 👍", in_reply_to_id=answer)
        await api.post(carol, "@alice I can bring the pastries", in_reply_to_id=coffee)
        await api.post(bob, "@alice did you see the new #opensource release? Feedback welcome")
        first = await api.upload(carol, picture(hue=0), "Green hills under a yellow sun")
        second = await api.upload(carol, picture(hue=90), "The same ridge in the evening, in pink light")
        ridge_text = "Morning walk along the ridge. The light was unreal today #photography"
        ridge = await api.post(carol, ridge_text, media_ids=[first, second])
        await api.post(bob, "This is gorgeous, Carol", quoted_status_id=ridge)

        await api.call("POST", f"/api/v1/statuses/{ridge}/favourite", alice)
        await api.call("PUT", f"/api/v1/statuses/{ridge}/reactions/love", bob)
        await api.call("POST", f"/api/v1/statuses/{coffee}/favourite", bob)
        await api.call("PUT", f"/api/v1/statuses/{coffee}/reactions/laugh", carol)
        await api.call("POST", f"/api/v1/statuses/{release}/reblog", alice)
        await api.call("POST", f"/api/v1/statuses/{coffee}/favourite", carol)
        await api.indexed(alice, "carol", "accounts")
        await api.indexed(alice, "opensource", "statuses")
        await api.indexed(alice, "opensource", "hashtags")
        return World(alice, bob, carol, coffee)
