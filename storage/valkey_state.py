"""Whether Valkey can serve: for `/readyz`. One Valkey answers PING; a Valkey Cluster is ready when the node
asked says `cluster_state:ok` (every slot served by a live primary) and every primary answers."""

from __future__ import annotations

from redis.asyncio.cluster import RedisCluster

from storage.keys import Valkey


class ValkeyNotReady(Exception):
    """Valkey answers, but cannot serve every key (a cluster with slots down)."""


async def check_valkey(valkey: Valkey) -> None:
    """Return when Valkey can serve every key; raise (RedisError, ValkeyNotReady) saying why not."""
    if not isinstance(valkey, RedisCluster):
        await valkey.ping()
        return
    info = await valkey.cluster_info()
    state = info.get("cluster_state")
    if state != "ok":
        served = info.get("cluster_slots_ok", "?")
        raise ValkeyNotReady(f"cluster_state:{state} ({served} of 16384 slots served)")
    await valkey.ping(target_nodes=RedisCluster.PRIMARIES)
