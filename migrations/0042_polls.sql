-- Polls (issue 23): a post's poll, its options' counts, and one vote per account.
--
-- The counts live on the poll row and change in the same transaction as the vote they count, guarded by
-- the vote's primary key (a second vote inserts nothing and counts nothing), so concurrent votes never
-- lose or double an increment: each vote's UPDATE waits for the one before it on the same row.
CREATE TABLE polls (
    id           bigint      PRIMARY KEY,
    post_id      bigint      NOT NULL UNIQUE REFERENCES posts ON DELETE CASCADE,
    account_id   bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    options      text[]      NOT NULL,
    votes        integer[]   NOT NULL,  -- per option, in the order of `options`
    multiple     boolean     NOT NULL DEFAULT false,
    hide_totals  boolean     NOT NULL DEFAULT false,
    votes_count  integer     NOT NULL DEFAULT 0 CHECK (votes_count >= 0),
    voters_count integer     NOT NULL DEFAULT 0 CHECK (voters_count >= 0),
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (cardinality(options) BETWEEN 2 AND 20 AND cardinality(votes) = cardinality(options))
);

CREATE TABLE poll_votes (
    poll_id    bigint      NOT NULL REFERENCES polls ON DELETE CASCADE,
    account_id bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    choices    integer[]   NOT NULL,  -- option indexes, from 0
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (poll_id, account_id)
);
