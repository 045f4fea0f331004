-- The durable job queue, which is also the transactional outbox: a write and the work it causes
-- (fan-out, indexing, media processing) commit in one transaction. Workers claim ready jobs with
-- FOR UPDATE SKIP LOCKED and a lease, so a worker that dies mid-job only delays it.
CREATE TABLE jobs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue        text        NOT NULL,
    kind         text        NOT NULL,
    payload      jsonb       NOT NULL DEFAULT '{}',
    attempts     integer     NOT NULL DEFAULT 0,
    run_at       timestamptz NOT NULL DEFAULT now(),
    locked_until timestamptz,
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jobs_ready ON jobs (queue, run_at, id);

-- Jobs that exhausted their attempts wait here for an operator (`chirp jobs dead`, `chirp jobs replay`).
CREATE TABLE dead_jobs (
    id         bigint PRIMARY KEY,
    queue      text        NOT NULL,
    kind       text        NOT NULL,
    payload    jsonb       NOT NULL,
    attempts   integer     NOT NULL,
    last_error text,
    created_at timestamptz NOT NULL,
    died_at    timestamptz NOT NULL DEFAULT now()
);
