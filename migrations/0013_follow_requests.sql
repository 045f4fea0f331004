-- Follow requests: who asked to follow a locked account and is waiting for its answer. Authorizing one
-- turns it into a row of `follows` (in one transaction); rejecting or withdrawing it deletes it. Only
-- `follows` lets anyone see private posts, so a pending request shows nothing.
CREATE TABLE follow_requests (
    id                bigint      PRIMARY KEY,
    account_id        bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    target_account_id bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    show_reposts      boolean     NOT NULL DEFAULT true,
    notify            boolean     NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (account_id <> target_account_id),
    UNIQUE (account_id, target_account_id)
);
-- A locked account's pending requests, newest first (GET /api/v1/follow_requests).
CREATE INDEX follow_requests_by_target ON follow_requests (target_account_id, id DESC);
