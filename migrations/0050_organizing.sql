-- Organizing a feed (issue 24): bookmarks, pinned posts, endorsed accounts, lists and their members,
-- followed and featured hashtags. Each row is keyed by a Snowflake id, so "newest first" pages are
-- index ranges of (account_id, id).

CREATE TABLE bookmarks (
    id         bigint      PRIMARY KEY,
    account_id bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    post_id    bigint      NOT NULL REFERENCES posts ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, post_id)
);
CREATE INDEX bookmarks_by_account ON bookmarks (account_id, id);
CREATE INDEX bookmarks_of_post ON bookmarks (post_id);

-- At most five per account: pin_post counts them with the account row locked.
CREATE TABLE pins (
    id         bigint      PRIMARY KEY,
    account_id bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    post_id    bigint      NOT NULL REFERENCES posts ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, post_id)
);

CREATE TABLE endorsements (
    id                bigint      PRIMARY KEY,
    account_id        bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    target_account_id bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, target_account_id)
);

CREATE TABLE lists (
    id             bigint      PRIMARY KEY,
    account_id     bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    title          text        NOT NULL CHECK (length(title) BETWEEN 1 AND 100),
    replies_policy text        NOT NULL DEFAULT 'list' CHECK (replies_policy IN ('followed', 'list', 'none')),
    -- Members' posts leave the owner's home timeline (they are read in the list instead).
    exclusive      boolean     NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lists_by_account ON lists (account_id, id);

-- A member is an account the owner follows; unfollowing removes it from the owner's lists. `owner_id`
-- (the list's account, never changing) lets the fan-out find a post's lists from its author alone.
CREATE TABLE list_accounts (
    list_id    bigint NOT NULL REFERENCES lists ON DELETE CASCADE,
    account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    owner_id   bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    id         bigint NOT NULL,
    PRIMARY KEY (list_id, account_id)
);
CREATE INDEX list_accounts_by_member ON list_accounts (account_id, owner_id);

CREATE TABLE tag_follows (
    id         bigint      PRIMARY KEY,
    account_id bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    tag        text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, tag)
);
CREATE INDEX tag_follows_of_tag ON tag_follows (tag, account_id);
