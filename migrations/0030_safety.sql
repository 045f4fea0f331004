-- Safety: blocks, mutes (accounts and conversations), private account notes, keyword filters, reports,
-- and the moderation state of accounts. Each rule is read by domain/visibility.py, the one place every
-- path asks who sees what.

-- account_id blocks target_account_id. Either side then sees nothing of the other; follows both ways end.
CREATE TABLE blocks (
    id                bigint      NOT NULL,
    account_id        bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    target_account_id bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, target_account_id),
    CHECK (account_id <> target_account_id)
);
-- Who blocks an account (blocked_by, and "neither sees the other"), and an account's blocks by block id.
CREATE INDEX blocks_of_target ON blocks (target_account_id, account_id);
CREATE INDEX blocks_by_account ON blocks (account_id, id DESC);

-- account_id mutes target_account_id: their posts leave account_id's timelines and streams; with
-- `notifications`, their notifications too. A mute with `expires_at` ends by itself (read as gone after).
CREATE TABLE mutes (
    id                bigint      NOT NULL,
    account_id        bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    target_account_id bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    notifications     boolean     NOT NULL DEFAULT true,
    expires_at        timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, target_account_id),
    CHECK (account_id <> target_account_id)
);
CREATE INDEX mutes_by_account ON mutes (account_id, id DESC);

-- A muted conversation (by its thread's root): no notifications from posts in it.
CREATE TABLE conversation_mutes (
    account_id     bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    thread_root_id bigint NOT NULL,
    PRIMARY KEY (account_id, thread_root_id)
);

-- Private notes about another account (Relationship.note), seen only by their writer.
CREATE TABLE account_notes (
    account_id        bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    target_account_id bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    comment           text        NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, target_account_id)
);

-- Keyword filters (Mastodon's v2 Filter): keywords and posts, in contexts, warn / hide / blur.
CREATE TABLE filters (
    id         bigint      PRIMARY KEY,
    account_id bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    title      text        NOT NULL,
    context    text[]      NOT NULL,
    action     text        NOT NULL CHECK (action IN ('warn', 'hide', 'blur')),
    expires_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX filters_by_account ON filters (account_id, id);

CREATE TABLE filter_keywords (
    id         bigint  PRIMARY KEY,
    filter_id  bigint  NOT NULL REFERENCES filters ON DELETE CASCADE,
    keyword    text    NOT NULL,
    whole_word boolean NOT NULL DEFAULT true
);
CREATE INDEX filter_keywords_by_filter ON filter_keywords (filter_id, id);

CREATE TABLE filter_statuses (
    id        bigint PRIMARY KEY,
    filter_id bigint NOT NULL REFERENCES filters ON DELETE CASCADE,
    post_id   bigint NOT NULL,
    UNIQUE (filter_id, post_id)
);

-- Moderation state of an account, and who may moderate.
ALTER TABLE accounts
    ADD COLUMN role          text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'moderator', 'admin')),
    ADD COLUMN suspended_at  timestamptz,
    ADD COLUMN silenced_at   timestamptz,
    ADD COLUMN disabled_at   timestamptz,
    ADD COLUMN sensitized_at timestamptz;

-- Reports: who reported whom, about which posts (a snapshot of them as they were), and the moderation of it.
CREATE TABLE reports (
    id                   bigint      PRIMARY KEY,
    account_id           bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    target_account_id    bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    status_ids           bigint[]    NOT NULL DEFAULT '{}',
    -- The reported posts' Status entities when the report was made: a deleted or edited post stays on record.
    snapshot             jsonb       NOT NULL DEFAULT '[]',
    comment              text        NOT NULL DEFAULT '',
    category             text        NOT NULL DEFAULT 'other'
        CHECK (category IN ('spam', 'legal', 'violation', 'other')),
    rule_ids             bigint[]    NOT NULL DEFAULT '{}',
    forward              boolean     NOT NULL DEFAULT false,
    assigned_account_id  bigint      REFERENCES accounts ON DELETE SET NULL,
    action_taken_by_id   bigint      REFERENCES accounts ON DELETE SET NULL,
    action_taken_at      timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reports_open ON reports (id DESC) WHERE action_taken_at IS NULL;
CREATE INDEX reports_by_target ON reports (target_account_id, id DESC);

-- Moderation actions taken on accounts, each with its warning to the user.
CREATE TABLE account_warnings (
    id                bigint      PRIMARY KEY,
    account_id        bigint      REFERENCES accounts ON DELETE SET NULL,  -- the moderator
    target_account_id bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    action            text        NOT NULL,
    text              text        NOT NULL DEFAULT '',
    report_id         bigint      REFERENCES reports ON DELETE SET NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX account_warnings_by_target ON account_warnings (target_account_id, id DESC);
