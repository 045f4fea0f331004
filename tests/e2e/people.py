"""What the browser tests do as a person would: sign up, sign in, write posts, and watch the page."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image, ImageDraw

PASSWORD = "correct horse battery"
# How long the page may take to show something that goes through the workers (a hang guard, not a timing
# assertion): fan-out, media processing and search indexing run beside the server.
SLOW_MS = 20_000


def picture(width: int = 900, height: int = 560, *, hue: int = 0) -> bytes:
    """A JPEG of a small landscape (sky, sun, hills), so screenshots show a real-looking photo."""
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        shade = y * 120 // height
        draw.line([(0, y), (width, y)], fill=((40 + shade + hue) % 256, (110 + shade) % 256, 210 - shade // 2))
    draw.ellipse([width * 0.68, height * 0.14, width * 0.82, height * 0.36], fill=(255, 214, 102))
    draw.polygon(
        [
            (0, height),
            (0, height * 0.62),
            (width * 0.35, height * 0.45),
            (width * 0.7, height * 0.7),
            (width, height * 0.55),
            (width, height),
        ],
        fill=(46, 125, 50),
    )
    draw.polygon(
        [
            (0, height),
            (width * 0.25, height * 0.75),
            (width * 0.6, height * 0.88),
            (width, height * 0.78),
            (width, height),
        ],
        fill=(27, 94, 32),
    )
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    return out.getvalue()


class Person:
    """One browser context: a person with their own storage (token) and page."""

    def __init__(self, page: Any, base_url: str, username: str) -> None:
        self.page = page
        self.base_url = base_url
        self.username = username
        self.problems: list[str] = []
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.problems.append(f"console error: {message.text}")

    @classmethod
    async def open(cls, browser: Any, base_url: str, username: str, **context: Any) -> Person:
        ctx = await browser.new_context(viewport=context.pop("viewport", {"width": 1280, "height": 800}), **context)
        return cls(await ctx.new_page(), base_url, username)

    @classmethod
    async def signed_in(cls, browser: Any, base_url: str, username: str, token: str, **context: Any) -> Person:
        """A browser already holding `token` where the client keeps it after signing in."""
        person = await cls.open(browser, base_url, username, **context)
        await person.page.context.add_init_script(f"localStorage.setItem('chirp.token', {token!r})")
        return person

    async def goto(self, path: str) -> None:
        await self.page.goto(self.base_url + path)

    async def register(self) -> None:
        """Sign up on the welcome screen; the page comes back signed in."""
        page = self.page
        await self.goto("/")
        await page.get_by_label("Username").fill(self.username)
        await page.get_by_label("E-mail address").fill(f"{self.username}@example.test")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_label("I agree to the rules of this server").check()
        await page.get_by_role("button", name="Create account").click()
        await page.get_by_role("heading", name="Home").wait_for()

    async def sign_out(self) -> None:
        await self.page.get_by_role("button", name="Sign out").click()
        await self.page.get_by_role("button", name="Create account").wait_for()

    async def sign_in(self) -> None:
        """Through the server's OAuth sign-in page and back to /callback (authorization code with PKCE)."""
        page = self.page
        await page.get_by_role("main").get_by_role("button", name="Sign in").click()
        await page.get_by_label("Username or e-mail address").fill(self.username)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in and allow").click()
        await page.get_by_role("heading", name="Home").wait_for()

    async def wait_live(self) -> None:
        await self.page.locator('.live-state[data-state="live"]').wait_for()

    async def mark_page(self) -> None:
        """Leave a mark on this page load: `still_same_page` is false after any reload."""
        await self.page.evaluate("window.__sameLoad = true")

    async def still_same_page(self) -> bool:
        return bool(await self.page.evaluate("window.__sameLoad === true"))

    def post(self, text: str) -> Any:
        """The card of the post containing `text` (in whatever list the page shows)."""
        return self.page.locator("article.status", has_text=text).first
