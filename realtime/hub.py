"""The hub: each API process's Valkey pub/sub connections (one per shard), shared by all its streaming
connections.

- One Valkey is one shard. On a Valkey Cluster the per-user and per-process channels are sharded
  (SSUBSCRIBE on the primary owning the channel's slot) and the public and hashtag channels classic (on one
  of the connections: a cluster broadcasts every PUBLISH to every node); storage/pubsub.py `Shards`.

- A channel is subscribed when the first local connection needs it and unsubscribed when the last one
  leaves (reference counted). SUBSCRIBE/UNSUBSCRIBE go out in order through one writer task, and a
  subscription counts as live only once Valkey has confirmed every SUBSCRIBE sent for it.
- When a pub/sub connection breaks (Valkey restarted, a primary failed over, a slot moved: Valkey then
  unsubscribes its sharded channels), the hub reopens every shard's connection as the cluster is now,
  re-subscribes every channel in use, rewrites this process's presence, and replays to each user stream
  what it missed meanwhile from its cursor: delivery resumes with no gap (Mastodon's streaming server
  stopped delivering after a reconnect: mastodon#25157).
- A message is dispatched to local connections without awaiting anything; public messages whose payload
  depends on the viewer go through one ordered lane that renders them per viewer first.
- Presence: users with a user stream here are listed in this process's presence set, refreshed while
  connected (storage/presence.py).
- Limits: streams per account and per token are counted here and, across processes, in Valkey leases
  renewed with the presence (storage/stream_leases.py); while Valkey is away only this process's count holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, TypeVar

from redis.asyncio.client import PubSub
from redis.exceptions import RedisClusterException, RedisError

from config import Settings
from core.metrics import OPEN_WEBSOCKETS
from domain.streaming import personalize, shielded_viewers
from realtime.connection import CLOSE_GOING_AWAY, Connection, Payload
from realtime.streams import Stream
from storage import presence, stream_leases
from storage.channels import HomeMessage, PublicMessage, UserMessage, decode, hub_channel, node_channel, user_channel
from storage.keys import by_slot
from storage.pubsub import Shards, is_sharded, open_shards, pubsub_messages
from storage.resources import Resources
from storage.stream_leases import Lease

log = logging.getLogger("chirp.streaming")
T = TypeVar("T")

RENEW_CHUNK = 250  # leases renewed per round trip: ~5 ms of packing in redis-py, then the loop is free
TICK_SECONDS = 1.0  # how often connections are checked (more often when the heartbeat is shorter)
CONFIRM_TIMEOUT = 5.0  # how long a new stream waits for Valkey to confirm its subscription
LANE_MAX = 10_000  # public messages waiting for per-viewer rendering before the oldest are dropped
RESYNC_CONCURRENCY = 8  # connections catching up at once after a reconnect
SETUP_CONCURRENCY = 32  # streams warming up or replaying at once
STOP_SECONDS = 5.0  # how long shutdown waits for the hub's tasks

Catchup = Callable[[Connection], Awaitable[None]]


class TooManyStreams(Exception):
    """One more stream would pass CHIRP_STREAM_MAX_PER_USER or _PER_TOKEN; the message says which."""


class Confirmation:
    """Whether Valkey confirmed a channel's subscription: asyncio.Event's behaviour without its deque (there
    is one per channel in use, so one per connected user: 10,000 deques were 8 MB of an API process)."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> None:
        if self._set:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)


class Batched(Generic[T]):
    """Items written to Valkey together by one writer task: what comes while a write is out goes into the
    next one. A reconnect storm, or a thousand sockets dropped at once, is a few commands, not a call per
    stream racing the others for the pool's connections (past its 256, redis-py refuses them). `write`
    handles its own failures."""

    def __init__(
        self,
        spawn: Callable[[Awaitable[Any], str], asyncio.Task[Any]],
        name: str,
        write: Callable[[list[T]], Awaitable[None]],
    ) -> None:
        self._spawn = spawn
        self._name = name
        self._write = write
        self._pending: tuple[dict[T, None], asyncio.Future[None]] | None = None
        self._writer: asyncio.Task[Any] | None = None

    def add(self, item: T) -> asyncio.Future[None]:
        """Queue `item`; the future is done once its batch was written (or failed to be)."""
        if self._pending is None:
            self._pending = ({}, asyncio.get_running_loop().create_future())
        items, written = self._pending
        items[item] = None
        if self._writer is None or self._writer.done():
            self._writer = self._spawn(self._run(), self._name)
        return written

    async def _run(self) -> None:
        while self._pending is not None:
            items, written = self._pending
            self._pending = None
            try:
                await self._write(list(items))
            finally:
                written.set_result(None)


class Hub:
    def __init__(self, res: Resources, settings: Settings) -> None:
        self.res = res
        self.settings = settings
        self.node_id = res.ids.node_id  # the leased node id: this process's channel and presence set
        self.home_channel = node_channel(self.node_id)
        self.control_channel = hub_channel(self.node_id)
        # Subscribed on every shard's connection directly: a connection with no channel of ours would not
        # be read, nor pinged, and would look dead.
        self.link_channel = f"chirp:hub-link:{self.node_id}"
        self.connections: set[Connection] = set()
        # Open streams per account and per token, for the limits (CHIRP_STREAM_MAX_PER_USER / _PER_TOKEN).
        self._per_account: Counter[int] = Counter()
        self._per_token: Counter[int] = Counter()
        self._lease_serials = itertools.count()
        # channel → connections fed by it (public, tag and user channels); account → `user` streams here
        self._by_channel: dict[str, set[Connection]] = {}
        self._home: dict[int, set[Connection]] = {}
        # account → connections with a user stream here (presence)
        self._present: dict[int, set[Connection]] = {}
        self._refs: dict[str, int] = {}
        self._sent: dict[str, int] = {}
        self._acked: dict[str, int] = {}
        self._confirmed: dict[str, Confirmation] = {}
        # SUNSUBSCRIBEs sent and not confirmed yet, per channel: any other sunsubscribe comes from Valkey.
        self._leaving: dict[str, int] = {}
        # None stops the writer: redis-py may swallow a cancellation that lands inside one of its calls.
        self._commands: asyncio.Queue[tuple[str, tuple[str, ...]] | None] = asyncio.Queue()
        self._lane: asyncio.Queue[tuple[str, PublicMessage]] = asyncio.Queue()
        self._pubsubs: dict[str, PubSub] | None = None
        self._shards: Shards | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing: set[asyncio.Task[Any]] = set()
        self._stopping = False
        # Presence and leases, written in batches: users who arrived, leases given back, users who left.
        self._arrivals = Batched(self._spawn, "presence", self._write_arrivals)
        self._releases = Batched(self._spawn, "release", self._give_back)
        self._departures = Batched(self._spawn, "offline", self._write_departures)
        # Streams setting up at once (home timeline warm-up, resume): a connection storm queues here
        # instead of exhausting the store connection pools.
        self.setup_limit = asyncio.Semaphore(SETUP_CONCURRENCY)
        self.connected = asyncio.Event()
        self.reconnects = 0
        self.catch_up: Catchup | None = None

    # lifecycle ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._refs[self.control_channel] = 1
        for name, coro in (("reader", self._run()), ("lane", self._run_lane()), ("ticker", self._tick())):
            self._spawn(coro, name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.connected.wait(), CONFIRM_TIMEOUT)

    async def close_all(self, code: int = CLOSE_GOING_AWAY, reason: str = "server shutting down") -> None:
        """Close every streaming connection (shutdown: 1001)."""
        for conn in list(self.connections):
            conn.close(code, reason)

    async def stop(self) -> None:
        self._stopping = True
        present = set(self._present)
        for conn in list(self.connections):
            conn.abort()  # sockets whose closing handshake did not finish in time (they hold no task)
        # Streams that ended during shutdown are being marked offline and giving their leases back: let that
        # finish rather than cut it (a cut release was left to expire, and warned from inside redis-py).
        ending = [task for task in self._tasks if task.get_name() in ("hub:offline", "hub:release")]
        if ending:
            await asyncio.wait(ending, timeout=STOP_SECONDS)
        self._commands.put_nowait(None)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=STOP_SECONDS)
        # RedisClusterException: no node of a cluster answers (it is no RedisError); presence then expires.
        with contextlib.suppress(RedisError, RedisClusterException, OSError):
            await presence.leave(self.res.redis, self.node_id, list(present | set(self._present)))

    def schedule_close(self, coro: Awaitable[Any]) -> None:
        """Run a connection's closing handshake in the background (tracked, so shutdown can wait for it)."""
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def closing_tasks(self) -> set[asyncio.Task[Any]]:
        return set(self._closing)

    def _spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        task.set_name(f"hub:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # connections and their streams -------------------------------------------------------------------

    def refusal(self, account_id: int | None, token_id: int | None) -> str | None:
        """Why one more stream for this account or token would be too many on this process (None: it is not)."""
        settings = self.settings
        if account_id is not None and self._per_account[account_id] >= settings.stream_max_per_user:
            return f"Too many streams for this account (the limit is {settings.stream_max_per_user})"
        if token_id is not None and self._per_token[token_id] >= settings.stream_max_per_token:
            return f"Too many streams for this access token (the limit is {settings.stream_max_per_token})"
        return None

    async def admit(self, account_id: int | None, token_id: int | None) -> Lease | None:
        """A lease for one more stream of this account and token, counted across every API process; raises
        TooManyStreams when it would be one too many (here or anywhere). None: nothing to count (an
        anonymous stream), or Valkey is away and this process's own count admitted it."""
        refusal = self.refusal(account_id, token_id)
        if refusal is not None:
            raise TooManyStreams(refusal)
        if token_id is None:
            return None
        settings = self.settings
        lease = stream_leases.lease_for(account_id, token_id, self.node_id, next(self._lease_serials))
        try:
            verdict = await stream_leases.admit(
                self.res.redis,
                lease,
                max_per_account=settings.stream_max_per_user if account_id is not None else stream_leases.NO_LIMIT,
                max_per_token=settings.stream_max_per_token,
                ttl=settings.stream_presence_ttl_seconds,
            )
        except (RedisError, RedisClusterException, OSError) as exc:
            log.warning("stream limits counted on this process only (Valkey: %s)", exc)
            return None
        if verdict == 1:
            raise TooManyStreams(f"Too many streams for this account (the limit is {settings.stream_max_per_user})")
        if verdict == 2:
            raise TooManyStreams(
                f"Too many streams for this access token (the limit is {settings.stream_max_per_token})"
            )
        return lease

    def release(self, lease: Lease | None) -> None:
        """Give a lease back (in the background, with the others given back meanwhile; if Valkey is away
        they simply expire)."""
        if lease is not None:
            self._releases.add(lease)

    async def _give_back(self, leases: list[Lease]) -> None:
        try:
            await stream_leases.release_all(self.res.redis, leases)
        except (RedisError, RedisClusterException, OSError) as exc:
            log.warning("%d stream leases left to expire (Valkey: %s)", len(leases), exc)

    def add(self, conn: Connection) -> None:
        # Keep-alives (websocket pings, SSE comments) are spread over the interval: sockets opened together
        # (a reconnect storm) would otherwise ping together, and 10,000 pings and pongs in one burst held up
        # delivery for 0.7 s (bench/streaming_capacity.py).
        conn.keepalive_at = time.monotonic() + random.uniform(0, self.settings.stream_heartbeat_seconds)
        self.connections.add(conn)
        if conn.account_id is not None:
            self._per_account[conn.account_id] += 1
        if conn.token_id is not None:
            self._per_token[conn.token_id] += 1
        OPEN_WEBSOCKETS.inc()

    def remove(self, conn: Connection) -> None:
        if conn not in self.connections:
            return
        for stream in list(conn.streams.values()):
            self._detach(conn, stream)
        self.connections.discard(conn)
        _count_down(self._per_account, conn.account_id)
        _count_down(self._per_token, conn.token_id)
        self.release(conn.lease)
        conn.lease = None
        OPEN_WEBSOCKETS.dec()

    async def subscribe(self, conn: Connection, stream: Stream) -> bool:
        """Attach `stream` to the connection; returns once its channels are live (or after a timeout, when
        Valkey is away: the reconnect's catch-up then covers the gap). False when already attached."""
        if stream.key in conn.streams or conn.closed:
            return False
        was_user = conn.wants_user_channel
        conn.streams[stream.key] = stream
        channels = list(stream.channels(conn.account_id))
        if stream.is_user:
            account = conn.account_id
            assert account is not None
            if stream.name == "user":
                self._home.setdefault(account, set()).add(conn)
                channels.append(self.home_channel)
            if was_user:
                channels.remove(user_channel(account))
        for channel in stream.channels(conn.account_id):
            self._by_channel.setdefault(channel, set()).add(conn)
        await self._acquire(channels)
        if stream.is_user and not was_user:
            await self._arrive(conn)
        return True

    def unsubscribe(self, conn: Connection, stream: Stream) -> bool:
        if stream.key not in conn.streams:
            return False
        self._detach(conn, conn.streams[stream.key])
        return True

    def _detach(self, conn: Connection, stream: Stream) -> None:
        del conn.streams[stream.key]
        channels = list(stream.channels(conn.account_id))
        for channel in channels:
            members = self._by_channel.get(channel)
            if members is not None and not (stream.is_user and conn.wants_user_channel):
                members.discard(conn)
                if not members:
                    del self._by_channel[channel]
        if stream.is_user:
            account = conn.account_id
            assert account is not None
            if stream.name == "user":
                home = self._home.get(account)
                if home is not None:
                    home.discard(conn)
                    if not home:
                        del self._home[account]
                channels.append(self.home_channel)
            if conn.wants_user_channel:
                channels.remove(user_channel(account))
            else:
                self._leave(conn)
        self._release(channels)

    async def _arrive(self, conn: Connection) -> None:
        account = conn.account_id
        assert account is not None
        members = self._present.setdefault(account, set())
        first = not members
        members.add(conn)
        if first:
            await self._mark_present(account)

    async def _mark_present(self, account: int) -> None:
        """Record the account's presence; returns once Valkey has it. Arrivals meanwhile are written together
        in one pipeline, one at a time: a reconnect storm of thousands of streams is a few commands."""
        await asyncio.shield(self._arrivals.add(account))

    async def _write_arrivals(self, accounts: list[int]) -> None:
        try:
            ttl = self.settings.stream_presence_ttl_seconds
            await presence.mark_online(self.res.redis, self.node_id, accounts, ttl)
        except (RedisError, OSError) as exc:
            log.warning("presence of %d streams not recorded (%s); the next refresh will", len(accounts), exc)

    def _leave(self, conn: Connection) -> None:
        account = conn.account_id
        assert account is not None
        members = self._present.get(account)
        if members is None:
            return
        members.discard(conn)
        if not members:
            del self._present[account]
            if not self._stopping:  # stopping: the whole presence set is left at once
                self._departures.add(account)

    async def _write_departures(self, accounts: list[int]) -> None:
        gone = [account for account in accounts if account not in self._present]  # not back since
        try:
            await presence.mark_offline(self.res.redis, self.node_id, gone)
        except (RedisError, RedisClusterException, OSError) as exc:
            log.warning("%d users left online until the next refresh (Valkey: %s)", len(gone), exc)

    # reference-counted subscriptions -----------------------------------------------------------------

    async def _acquire(self, channels: Iterable[str]) -> None:
        wanted = list(channels)
        new: list[str] = []
        for channel in wanted:
            count = self._refs.get(channel, 0)
            self._refs[channel] = count + 1
            if count == 0:
                new.append(channel)
                self._confirmed[channel] = Confirmation()
        if new:
            self._send("SUBSCRIBE", new)
        waits = [self._confirmed[c].wait() for c in wanted if c in self._confirmed and not self._confirmed[c].is_set()]
        if waits:
            try:
                await asyncio.wait_for(asyncio.gather(*waits), CONFIRM_TIMEOUT)
            except TimeoutError:
                log.warning("Valkey did not confirm subscriptions to %s in time", ", ".join(wanted))

    def _release(self, channels: Iterable[str]) -> None:
        gone: list[str] = []
        for channel in channels:
            count = self._refs.get(channel, 0) - 1
            if count > 0:
                self._refs[channel] = count
                continue
            self._refs.pop(channel, None)
            self._confirmed.pop(channel, None)
            self._sent.pop(channel, None)
            self._acked.pop(channel, None)
            gone.append(channel)
        if gone:
            for channel in filter(is_sharded, gone):
                self._leaving[channel] = self._leaving.get(channel, 0) + 1
            self._send("UNSUBSCRIBE", gone)

    def _send(self, command: str, channels: list[str]) -> None:
        if command == "SUBSCRIBE":
            for channel in channels:
                self._sent[channel] = self._sent.get(channel, 0) + 1
                self._confirmed.setdefault(channel, Confirmation()).clear()
        if self._pubsubs is not None:
            self._commands.put_nowait((command, tuple(channels)))

    def _on_confirmed(self, channel: str) -> None:
        acked = self._acked.get(channel, 0) + 1
        self._acked[channel] = acked
        event = self._confirmed.get(channel)
        if event is not None and acked >= self._sent.get(channel, 0):
            event.set()

    def subscribed_channels(self) -> set[str]:
        """The channels this process is subscribed to (for tests and /metrics-style checks)."""
        return {c for c, event in self._confirmed.items() if event.is_set()}

    @property
    def refs(self) -> dict[str, int]:
        return dict(self._refs)

    # the pub/sub connection --------------------------------------------------------------------------

    async def _run(self) -> None:
        delay = 0.1
        first = True
        while not self._stopping:
            pubsubs: dict[str, PubSub] = {}
            writer: asyncio.Task[None] | None = None
            shards: Shards | None = None
            try:
                # Connections of their own, which never retry behind the hub's back: a broken one must
                # surface here, so that the hub re-subscribes, rewrites presence and replays what was missed.
                shards = await open_shards(self.res.redis, self.settings.redis_url)
                for name, client in shards.clients.items():
                    pubsubs[name] = client.pubsub(ignore_subscribe_messages=False)
                    await pubsubs[name].subscribe(self.link_channel)
                self._reset_confirmations()
                self._commands = asyncio.Queue()
                self._pubsubs, self._shards = pubsubs, shards
                # Every channel in use, first thing on the new connections; streams added meanwhile queue
                # their SUBSCRIBE behind it, so nothing is missed and the order holds.
                channels = list(self._refs)
                self._send("SUBSCRIBE", channels)
                writer = self._spawn(self._write_commands(pubsubs, shards), "writer")
                if not first:
                    self.reconnects += 1
                    log.info("Valkey pub/sub reconnected; re-subscribed %d channels", len(channels))
                if self.connections:
                    # Streams that started or ran while the connection was down replay what they missed.
                    self._spawn(self._resync(), "resync")
                first = False
                delay = 0.1
                await self._read_all(pubsubs)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if delay == 0.1:  # once per outage
                    log.warning("Valkey pub/sub connection lost: %s; reconnecting", exc)
            finally:
                self._pubsubs = None
                self.connected.clear()
                if writer is not None:
                    self._commands.put_nowait(None)
                    writer.cancel()
                for pubsub in pubsubs.values():
                    with contextlib.suppress(Exception):
                        await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]  # typed from redis 8.2
                if shards is not None:
                    await shards.aclose()
            if not self._stopping:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _reset_confirmations(self) -> None:
        self._sent = {}
        self._acked = {}
        self._leaving = {}
        for event in self._confirmed.values():
            event.clear()

    async def _write_commands(self, pubsubs: dict[str, PubSub], shards: Shards) -> None:
        """Send queued SUBSCRIBE/UNSUBSCRIBE in order; consecutive ones of a kind go as one command per shard
        and slot (sharded channels: SSUBSCRIBE/SUNSUBSCRIBE)."""
        commands = self._commands
        while not self._stopping:
            waiting = [await commands.get()]
            while not commands.empty():
                waiting.append(commands.get_nowait())
            stop = None in waiting
            runs: list[tuple[str, list[str]]] = []
            for item in waiting:
                if item is None:
                    break
                if runs and runs[-1][0] == item[0]:
                    runs[-1][1].extend(item[1])
                else:
                    runs.append((item[0], list(item[1])))
            try:
                for command, names in runs:
                    await self._apply(command, names, pubsubs, shards)
            except (RedisError, OSError) as exc:
                # The reader sees the broken connection too and reconnects, re-subscribing what is in use.
                log.debug("pub/sub command failed: %s", exc)
                return
            if stop:
                return

    async def _apply(self, command: str, names: list[str], pubsubs: dict[str, PubSub], shards: Shards) -> None:
        subscribe = command == "SUBSCRIBE"
        classic: dict[str, list[str]] = {}
        sharded: dict[str, list[str]] = {}
        for name in names:
            (sharded if is_sharded(name) else classic).setdefault(shards.shard_of(name), []).append(name)
        for shard, channels in classic.items():
            pubsub = pubsubs[shard]
            await (pubsub.subscribe(*channels) if subscribe else pubsub.unsubscribe(*channels))
        for shard, channels in sharded.items():
            pubsub = pubsubs[shard]
            for group in by_slot(self.res.redis, channels).values():  # one slot per command on a cluster
                await (pubsub.ssubscribe(*group) if subscribe else pubsub.sunsubscribe(*group))

    async def _read_all(self, pubsubs: dict[str, PubSub]) -> None:
        """Read every shard's connection; returns (raising) when one of them breaks."""
        readers = [asyncio.ensure_future(self._read(pubsub)) for pubsub in pubsubs.values()]
        try:
            done, _ = await asyncio.wait(readers, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
            raise RedisError("a pub/sub connection ended")
        finally:
            for task in readers:
                task.cancel()
            await asyncio.gather(*readers, return_exceptions=True)

    async def _read(self, pubsub: PubSub) -> None:
        async for message in pubsub_messages(pubsub, name="pub/sub"):
            kind = message["type"]
            if kind in ("message", "smessage"):
                self._dispatch(_text(message["channel"]), message["data"])
            elif kind in ("subscribe", "ssubscribe"):
                channel = _text(message["channel"])
                self._on_confirmed(channel)
                if channel == self.control_channel:
                    self.connected.set()
            elif kind == "sunsubscribe":
                channel = _text(message["channel"])
                if self._leaving.get(channel, 0) > 0:
                    self._leaving[channel] -= 1
                elif channel in self._refs:
                    # Not asked for: the slot moved to another shard (a failover, resharding).
                    raise RedisError(f"Valkey moved {channel} to another shard")

    # dispatch ----------------------------------------------------------------------------------------

    def _dispatch(self, channel: str, raw: bytes) -> None:
        try:
            message = decode(raw)
        except (ValueError, KeyError, TypeError):
            log.warning("dropping a malformed message on %s", channel)
            return
        if isinstance(message, HomeMessage):
            self._dispatch_home(message)
        elif isinstance(message, UserMessage):
            self._dispatch_user(channel, message)
        elif self._lane.qsize() < LANE_MAX:
            self._lane.put_nowait((channel, message))
        else:
            log.warning("public lane full; dropping an event on %s", channel)

    def _dispatch_home(self, message: HomeMessage) -> None:
        # Synchronous from here to the last socket: no connection can come or go meanwhile.
        event = message.event.encode()
        event_id = message.event_id
        home = self._home
        for text, accounts in message.groups:
            payload = Payload(text)
            for account in accounts:
                conns = home.get(account)
                if conns is not None:
                    for conn in conns:
                        conn.home_event(event, event_id, payload)

    def _dispatch_user(self, channel: str, message: UserMessage) -> None:
        event = message.event.encode()
        payload = Payload(message.payload)
        for conn in tuple(self._by_channel.get(channel, ())):
            conn.user_event(event, message.event_id, payload, message.cursor)

    async def _run_lane(self) -> None:
        while True:
            channel, message = await self._lane.get()
            try:
                await self._deliver_public(channel, message)
            except Exception:
                log.exception("public event on %s not delivered", channel)

    async def _deliver_public(self, channel: str, message: PublicMessage) -> None:
        conns = tuple(self._by_channel.get(channel, ()))
        if not conns:
            return
        event = message.event.encode()
        anonymous = Payload(message.anonymous) if message.anonymous is not None else None
        signed_in = Payload(message.signed_in) if message.signed_in is not None else None
        personal: dict[int, Payload] = {}
        viewers = list({c.account_id for c in conns if c.account_id is not None})
        # Viewers whose blocks or mutes touch the post get their own rendering (domain.visibility decides).
        own = set(viewers) if message.personal else set()
        if viewers and not message.personal and message.event != "delete":
            own = await shielded_viewers(self.res, message.post_id, viewers)
        if own:
            texts = await personalize(self.res, message.post_id, list(own))
            shared: dict[str, Payload] = {}
            personal = {viewer: shared.setdefault(text, Payload(text)) for viewer, text in texts.items()}
        for conn in conns:
            if conn.account_id is None:
                payload = anonymous
            elif conn.account_id in own:
                payload = personal.get(conn.account_id)
            else:
                payload = signed_in
            if payload is not None:
                conn.public_event(channel, event, payload, message.media)

    # periodic work -----------------------------------------------------------------------------------

    async def _tick(self) -> None:
        """Once a second: end streams whose client went away, close clients that stayed full and keep the
        others alive (each on its own schedule, every heartbeat); every third of the presence TTL: rewrite
        this process's presence set."""
        settings = self.settings
        interval = settings.stream_heartbeat_seconds
        next_presence = time.monotonic()
        while True:
            await asyncio.sleep(min(TICK_SECONDS, interval / 2))
            now = time.monotonic()
            for conn in tuple(self.connections):
                transport = conn.transport
                if conn.answering:
                    continue  # subscribing before its answer: its socket is not its own yet
                if transport is None or transport.is_closing():
                    conn.lost()  # an SSE client that went away (nothing else tells its handler)
                elif conn.full:
                    conn.check_buffer()
                else:
                    conn.keep_alive(now, interval)
            if now >= next_presence:
                next_presence = now + settings.stream_presence_ttl_seconds / 3
                await self._rewrite_presence()
                await self.renew_leases()

    async def _rewrite_presence(self) -> bool:
        try:
            await presence.rewrite(
                self.res.redis, self.node_id, list(self._present), self.settings.stream_presence_ttl_seconds
            )
            return True
        except (RedisError, OSError) as exc:
            log.warning("presence not refreshed: %s", exc)
            return False

    async def renew_leases(self) -> None:
        """Renew every lease here, RENEW_CHUNK at a time: packing 10,000 renewals into one pipeline held the
        event loop for ~0.2 s (every 20 s, the p99 spikes of bench streaming_capacity); between chunks,
        while Valkey answers, delivery goes on."""
        leases = [conn.lease for conn in self.connections if conn.lease is not None]
        for start in range(0, len(leases), RENEW_CHUNK):
            try:
                chunk = leases[start : start + RENEW_CHUNK]
                await stream_leases.renew(self.res.redis, chunk, self.settings.stream_presence_ttl_seconds)
            except (RedisError, RedisClusterException, OSError) as exc:
                log.warning("stream leases not renewed: %s", exc)
                return

    async def _resync(self) -> None:
        """After a reconnect: wait for the re-subscriptions, record presence again (a restarted Valkey lost
        it), then replay to every user stream what it missed."""
        waits = [event.wait() for event in self._confirmed.values()]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*waits), CONFIRM_TIMEOUT)
        await self._rewrite_presence()
        await self.renew_leases()
        catch_up = self.catch_up
        if catch_up is None:
            return
        limit = asyncio.Semaphore(RESYNC_CONCURRENCY)

        async def one(conn: Connection) -> None:
            async with limit:
                if not conn.closed:
                    await catch_up(conn)

        users = [conn for conn in self.connections if conn.wants_user_channel]
        for conn in users:
            conn.hold()
        await asyncio.gather(*(one(conn) for conn in users), return_exceptions=True)


def _count_down(counts: Counter[int], key: int | None) -> None:
    if key is None:
        return
    counts[key] -= 1
    if counts[key] <= 0:
        del counts[key]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
