"""A Chirp app served over real HTTP on 127.0.0.1, for synchronous clients (Mastodon.py) run in a thread.

    async with serve_app(create_app(settings)) as base_url:
        api = await asyncio.to_thread(Mastodon, api_base_url=base_url)

The server runs on the test's event loop, so the client must run off it (`asyncio.to_thread`).
"""

from __future__ import annotations

import dataclasses
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp import web
from mastodon import Mastodon

from app.main import app_runner, create_app
from config import Settings


def self_signed_certificate(directory: Path) -> Path:
    """A certificate and key for 127.0.0.1 in one PEM file (for clients that only speak HTTPS, such as
    tweepy): trust it with `verify=<path>`."""
    pem = directory / "loopback.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(pem), "-out", str(directory / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    pem.write_text(pem.read_text() + (directory / "cert.pem").read_text())
    return pem


@asynccontextmanager
async def serve_app(app: web.Application, *, certificate: Path | None = None) -> AsyncIterator[str]:
    """Serve `app` until the block ends; yields its base URL (`http://127.0.0.1:PORT`, or https:// when served
    with a `certificate` from `self_signed_certificate`)."""
    context: ssl.SSLContext | None = None
    if certificate is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certificate)
    runner = app_runner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)  # port 0: the OS picks a free one, no race
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"{'https' if context else 'http'}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def serve_public(settings: Settings) -> AsyncIterator[str]:
    """The app for `settings` served on a port that CHIRP_PUBLIC_URL names, so the absolute links it writes
    (pagination, media) lead back to it. The socket is bound before the app is made: no race for the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    runner = app_runner(create_app(dataclasses.replace(settings, public_url=base_url)), access_log=None)
    await runner.setup()
    site = web.SockSite(runner, sock)
    await site.start()
    try:
        yield base_url
    finally:
        await runner.cleanup()


PASSWORD = "correct horse battery"


def signed_in(base_url: str, name: str) -> Mastodon:
    """A new account `name`, registered through an app and then signed in with the password grant."""
    client_id, client_secret = Mastodon.create_app("chirp-test", api_base_url=base_url)
    registrar = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=base_url)
    registrar.create_account(name, PASSWORD, f"{name}@example.test", agreement=True)
    api = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=base_url)
    api.log_in(f"{name}@example.test", PASSWORD, allow_http=True)
    return api
