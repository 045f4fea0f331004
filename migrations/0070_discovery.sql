-- Discovery (issue 24): hashtags featured on a profile, and the suggestions one dismissed. Trends are not
-- here: the worker's trends pass writes them to Valkey (domain/trends.py), rebuilt by its next pass.

-- At most MAX_FEATURED_TAGS per account (feature_tag counts them with the account row locked). Their
-- `statuses_count` and `last_status_at` are read from post_tags and posts, so they are right as posts come and go.
CREATE TABLE featured_tags (
    id         bigint      PRIMARY KEY,
    account_id bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    tag        text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, tag)
);

-- account_id does not want target_account_id suggested again (DELETE /api/v1/suggestions/:account_id).
CREATE TABLE suggestion_dismissals (
    account_id        bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    target_account_id bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, target_account_id)
);

-- The directory's `order=active` and the suggestions' "recently active": accounts by their last post.
CREATE INDEX accounts_by_last_post ON accounts (last_post_at DESC NULLS LAST, id DESC);
