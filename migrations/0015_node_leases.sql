-- Node ids, leased: each running API or worker process holds one (its Snowflake node and its streaming
-- channel) while its heartbeat keeps `expires_at` ahead of now(); an expired row is free for the next
-- process. `last_ms` is the last millisecond the holder minted an id at, so the next holder never
-- repeats its ids even with a clock running behind (storage/node_leases.py).

CREATE TABLE node_leases (
    node       integer     PRIMARY KEY CHECK (node BETWEEN 0 AND 4095),
    -- role@host:pid#nonce of the process holding it.
    owner      text        NOT NULL,
    expires_at timestamptz NOT NULL,
    last_ms    bigint      NOT NULL DEFAULT -1,
    leased_at  timestamptz NOT NULL DEFAULT now()
);
