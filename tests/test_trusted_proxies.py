"""Behind a load balancer: `X-Forwarded-For` / `Forwarded` name the client only when the peer is a trusted
proxy, read from the right (the first untrusted hop); rate limits, sign-up limits and logs use that address."""

from __future__ import annotations

import logging
from ipaddress import ip_network

import pytest
from conftest import ClientFactory
from multidict import CIMultiDict, CIMultiDictProxy
from oauth_flow import PASSWORD, bearer, register_app, request_token

from api.client import resolve
from config import Settings, SettingsError
from storage.resources import Resources

LOOPBACK = (ip_network("127.0.0.0/8"), ip_network("::1/128"))  # the test client's peer: the "balancer"
ELSEWHERE = (ip_network("10.0.0.0/8"),)  # a balancer that is not the test client
PROXIES = (ip_network("10.0.0.0/8"), ip_network("2001:db8:ffff::/48"))


def headers(*pairs: tuple[str, str]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(pairs))


def xff(value: str) -> tuple[str, str]:
    return ("X-Forwarded-For", value)


@pytest.mark.parametrize(
    ("peer", "sent", "expected"),
    [
        # Not from a trusted proxy: the header is the client's own word, ignored.
        ("198.51.100.9", headers(xff("203.0.113.5")), "198.51.100.9"),
        # From a trusted proxy: the hop it appended.
        ("10.0.0.2", headers(xff("203.0.113.5")), "203.0.113.5"),
        # The client forged hops on the left; the proxy appended the real one on the right.
        ("10.0.0.2", headers(xff("1.1.1.1, 6.6.6.6, 203.0.113.5")), "203.0.113.5"),
        # Two trusted proxies in a row: both skipped.
        ("10.0.0.2", headers(xff("203.0.113.5, 10.9.9.9")), "203.0.113.5"),
        ("10.0.0.2", headers(xff("203.0.113.5"), xff("10.9.9.9")), "203.0.113.5"),
        # Only trusted hops: the leftmost of them.
        ("10.0.0.2", headers(xff("10.1.1.1, 10.9.9.9")), "10.1.1.1"),
        # No header from a trusted proxy: the proxy itself.
        ("10.0.0.2", headers(), "10.0.0.2"),
        # Garbage stops the walk at the last trusted hop.
        ("10.0.0.2", headers(xff("203.0.113.5, not-an-ip")), "10.0.0.2"),
        ("10.0.0.2", headers(xff("203.0.113.5:4711")), "203.0.113.5"),
        ("10.0.0.2", headers(xff("[2001:db8::7]:443")), "2001:db8::7"),
        ("2001:db8:ffff::1", headers(xff("2001:db8::7")), "2001:db8::7"),
        ("::ffff:10.0.0.2", headers(xff("203.0.113.5")), "203.0.113.5"),
        # The Forwarded header is not the one these proxies write: ignored.
        ("10.0.0.2", headers(("Forwarded", "for=203.0.113.5")), "10.0.0.2"),
        (None, headers(xff("203.0.113.5")), "unknown"),
    ],
)
def test_the_client_is_the_first_untrusted_hop_from_the_right(
    peer: str | None, sent: CIMultiDictProxy[str], expected: str
) -> None:
    assert resolve(peer, sent, PROXIES) == expected


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        (headers(("Forwarded", "for=203.0.113.5;proto=https;by=10.0.0.2")), "203.0.113.5"),
        (headers(("Forwarded", 'for="[2001:db8:cafe::17]:4711", for=10.3.3.3')), "2001:db8:cafe::17"),
        (headers(("Forwarded", "for=6.6.6.6"), ("Forwarded", "for=203.0.113.5")), "203.0.113.5"),
        (headers(("Forwarded", "for=_hidden, for=10.3.3.3")), "10.3.3.3"),
        (headers(("Forwarded", "proto=https")), "10.0.0.2"),
        # This time X-Forwarded-For is the one to ignore.
        (headers(xff("203.0.113.5")), "10.0.0.2"),
    ],
)
def test_rfc_7239_forwarded_when_the_proxies_write_it(sent: CIMultiDictProxy[str], expected: str) -> None:
    assert resolve("10.0.0.2", sent, PROXIES, "forwarded") == expected


def test_trusted_proxies_are_validated_cidrs() -> None:
    settings = Settings.from_env({"CHIRP_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7 ,fd00::/8"})
    assert settings.trusted_proxies == (ip_network("10.0.0.0/8"), ip_network("192.168.1.7/32"), ip_network("fd00::/8"))
    assert Settings.from_env({}).trusted_proxies == ()
    for bad in ("10.0.0.0/33", "10.0.0.1/8", "a-balancer"):
        with pytest.raises(SettingsError, match=r"^CHIRP_TRUSTED_PROXIES: expected comma-separated CIDRs"):
            Settings.from_env({"CHIRP_TRUSTED_PROXIES": bad})


async def counted_addresses(res: Resources) -> set[str]:
    """The client addresses with a per-address rate-limit window in Valkey (`storage.keys.rate_limit_key`:
    `chirp:rl:{ip:ADDRESS}:...`, the rule in its hash tag)."""
    keys = {key.decode() async for key in res.redis.scan_iter("chirp:rl:{ip:*")}
    return {key.split("{ip:", 1)[1].split("}", 1)[0] for key in keys}


@pytest.mark.valkey_modes  # rate-limit windows live in Valkey
async def test_behind_a_trusted_balancer_each_client_has_its_own_ip_budget(
    make_client: ClientFactory, res: Resources
) -> None:
    client = await make_client(trusted_proxies=LOOPBACK, rate_limit_ip=(1, 600))
    assert (await client.get("/api/v1/custom_emojis", headers=[xff("203.0.113.5")])).status == 200
    assert (await client.get("/api/v1/custom_emojis", headers=[xff("203.0.113.6")])).status == 200
    assert (await client.get("/api/v1/custom_emojis", headers=[xff("203.0.113.5")])).status == 429
    # A client forging a hop in front of its real address is still counted as itself.
    forged = await client.get("/api/v1/custom_emojis", headers=[xff("198.51.100.1, 203.0.113.6")])
    assert forged.status == 429
    assert await counted_addresses(res) == {"203.0.113.5", "203.0.113.6"}


@pytest.mark.valkey_modes  # rate-limit windows live in Valkey
async def test_from_an_untrusted_peer_the_header_is_ignored(make_client: ClientFactory, res: Resources) -> None:
    client = await make_client(trusted_proxies=ELSEWHERE, rate_limit_ip=(1, 600))
    assert (await client.get("/api/v1/custom_emojis", headers=[xff("203.0.113.5")])).status == 200
    assert (await client.get("/api/v1/custom_emojis", headers=[xff("203.0.113.6")])).status == 429
    assert await counted_addresses(res) == {"127.0.0.1"}


@pytest.mark.valkey_modes  # rate-limit windows live in Valkey
async def test_sign_up_limits_count_the_real_client(make_client: ClientFactory) -> None:
    client = await make_client(trusted_proxies=LOOPBACK, rate_limit_sign_up=(1, 1800))
    app = await register_app(client)
    status, token = await request_token(client, app, grant_type="client_credentials", scope="write")
    assert status == 200

    async def sign_up(name: str, address: str) -> int:
        response = await client.post(
            "/api/v1/accounts",
            json={"username": name, "email": f"{name}@example.test", "password": PASSWORD, "agreement": True},
            headers={**bearer(token["access_token"]), "X-Forwarded-For": address},
        )
        return response.status

    # Through one balancer, two people sign up; a third try by the first is over the limit.
    assert [await sign_up("a1", "203.0.113.5"), await sign_up("a2", "203.0.113.6")] == [200, 200]
    assert await sign_up("a3", "203.0.113.5") == 429


async def test_the_access_log_names_the_real_client_and_no_query_string(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client(trusted_proxies=LOOPBACK)
    with caplog.at_level(logging.INFO, logger="chirp.access"):
        await client.get("/api/v1/custom_emojis?access_token=secret-token", headers=[xff("203.0.113.5")])
    records = [r for r in caplog.records if r.name == "chirp.access"]
    assert [getattr(r, "client", None) for r in records] == ["203.0.113.5"]
    assert "secret-token" not in records[0].getMessage()
