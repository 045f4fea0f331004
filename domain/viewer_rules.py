"""Each account's own rules (blocks either way, mutes, muted conversations, keyword filters), kept in this
process's memory and checked against PostgreSQL's version stamp before each use.

Why: the rules apply to every read and to every live event, for every viewer of it. Read afresh each
time, a viewer with a hundred mutes, a hundred blocks and five filters cost a query building all of that
(a thousand times over for a post to a thousand followers). A stamp (`storage.safety.rule_versions`) is
one index probe, and a trigger moves it in the transaction of every write to a rule, so a copy whose
stamp still matches is current. Time still passes for a copy: a mute or filter that ends is dropped from
the moment it ends (`Shield.until`), without a write.

What the rules mean for what a viewer sees is decided in domain/visibility.py; this module keeps them, and
works out once per version which accounts and filters they leave in each context (`ViewerRules.view`).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from domain.filters import CompiledFilter, compile_filters
from storage import safety as safety_store
from storage.resources import Resources
from storage.safety import RulesRow

MAX_KEPT = 20_000  # accounts whose rules one process keeps (the least recently used are forgotten)
TIMELINE_CONTEXTS = frozenset({"home", "public", "thread"})  # where a mute hides posts (Mastodon's)


@dataclass(frozen=True)
class Shield:
    """What a viewer's rules hide in one context of reading: the authors none of whose posts (or
    notifications) it sees (its blocks and mutes; and the suspended authors among those read, added by
    `domain.visibility.shield_of`), and its keyword filters for that context; with every keyword pattern
    and post of those filters, to tell at once that none matches (most posts, for most viewers). Holds
    until `until` (epoch seconds), when a mute or filter in it ends."""

    hidden: frozenset[int] = frozenset()
    filters: tuple[CompiledFilter, ...] = ()
    suspended: frozenset[int] = frozenset()
    filtered_posts: frozenset[int] = frozenset()
    until: float = float("inf")
    # The filters' keywords, case-folded: a (folded) text that contains none of them matches no keyword
    # pattern (each pattern is its folded keyword, perhaps between word boundaries). A frozenset, so that
    # one live event can remember the answer for every viewer who filters the same words.
    folded_keywords: frozenset[str] = frozenset()

    def hides(self, account_id: int) -> bool:
        return account_id in self.hidden or account_id in self.suspended


class ViewerRules:
    """One account's rules at one version stamp, with what they come to in each context (computed once)."""

    __slots__ = ("_views", "blocked", "conversations", "filters", "mutes", "version")

    def __init__(self, row: RulesRow) -> None:
        self.version = row.version
        self.blocked = row.blocked
        self.mutes = row.mutes
        self.filters = compile_filters(row.filters) if row.filters != "[]" else ()
        self.conversations = row.conversations
        self._views: dict[str | None, Shield] = {}

    def view(self, context: str | None, now: float | None = None) -> Shield:
        """Who is hidden and which filters apply in `context` (None: a post asked for by id, where only
        blocks apply; "notifications": mutes that include notifications)."""
        moment = time.time() if now is None else now
        cached = self._views.get(context)
        if cached is None or moment >= cached.until:
            cached = self._views[context] = self._compute(context, moment)
        return cached

    def _compute(self, context: str | None, now: float) -> Shield:
        until = float("inf")
        hidden = set(self.blocked)
        for target, notifications, ends_at in self.mutes:
            if ends_at is not None:
                if ends_at <= now:
                    continue
                until = min(until, ends_at)
            if context in TIMELINE_CONTEXTS or (context == "notifications" and notifications):
                hidden.add(target)
        filters: list[CompiledFilter] = []
        for compiled in self.filters:
            if compiled.ends_at is not None:
                if compiled.ends_at <= now:
                    continue
                until = min(until, compiled.ends_at)
            if context is not None and context in compiled.context:
                filters.append(compiled)
        posts = frozenset(post_id for f in filters for post_id in f.post_ids)
        folded = frozenset(keyword.casefold() for f in filters for keyword, _ in f.keywords)
        return Shield(frozenset(hidden), tuple(filters), frozenset(), posts, until, folded)

    @property
    def passing(self) -> bool:
        """Whether a rule ends by itself: a timed mute, or a filter (which may expire or be taken away)."""
        return bool(self.filters) or any(ends_at is not None for _, _, ends_at in self.mutes)

    def touches(
        self, authors: frozenset[int], thread_roots: frozenset[int], context: str | None, now: float | None = None
    ) -> bool:
        """Whether these rules can change a post with these authors and conversations in `context` for
        this viewer (else the viewer sees it as a viewer without rules does)."""
        view = self.view(context, now)
        return (
            bool(view.filters) or not view.hidden.isdisjoint(authors) or not self.conversations.isdisjoint(thread_roots)
        )


_kept: OrderedDict[int, ViewerRules] = OrderedDict()


def _keep(account_id: int, rules: ViewerRules) -> ViewerRules:
    _kept[account_id] = rules
    _kept.move_to_end(account_id)
    while len(_kept) > MAX_KEPT:
        _kept.popitem(last=False)
    return rules


def _current(account_id: int, version: int) -> ViewerRules | None:
    rules = _kept.get(account_id)
    if rules is None or rules.version != version:
        return None
    _kept.move_to_end(account_id)
    return rules


async def _load(res: Resources, account_ids: list[int]) -> dict[int, ViewerRules]:
    """Read the accounts' rules from PostgreSQL and keep them (those that have any)."""
    loaded = await safety_store.load_rules(res.db, account_ids)
    return {account_id: _keep(account_id, ViewerRules(row)) for account_id, row in loaded.items()}


async def rules_of_many(res: Resources, account_ids: Sequence[int]) -> dict[int, ViewerRules]:
    """The rules of those of the accounts that have any, current: one stamp query for all, and one load for
    those whose kept copy is missing or stale."""
    versions = await safety_store.rule_versions(res.db, account_ids)
    found: dict[int, ViewerRules] = {}
    stale: list[int] = []
    for account_id, version in versions.items():
        rules = _current(account_id, version)
        if rules is None:
            stale.append(account_id)
        else:
            found[account_id] = rules
    if stale:
        found.update(await _load(res, stale))
    return found


async def rules_at(res: Resources, account_id: int, version: int | None) -> ViewerRules | None:
    """The account's rules at the stamp read alongside other data (None: it never had a rule)."""
    if version is None:
        return None
    rules = _current(account_id, version)
    if rules is not None:
        return rules
    return (await _load(res, [account_id])).get(account_id)


async def has_passing_rules(res: Resources, account_id: int) -> bool:
    """Whether the account has a rule that ends by itself (posts it hides now are kept in its cached
    timelines, to show again when it ends). Answered from the kept copy, which a reader of the timeline has
    just checked against its stamp; from PostgreSQL when none is kept."""
    kept = _kept.get(account_id)
    if kept is not None:
        return kept.passing
    return await safety_store.has_passing_rules(res.db, account_id)
