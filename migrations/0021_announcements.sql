-- Announcements: what the operator tells every user (`chirp announce`), shown by clients above the home
-- timeline until dismissed. Each user may dismiss one and react to it with emoji, one of each name.

CREATE TABLE announcements (
    id           bigint      PRIMARY KEY,
    text         text        NOT NULL CHECK (length(text) BETWEEN 1 AND 5000),
    -- Optional event window the announcement is about; shown from published_at until ends_at (if set).
    starts_at    timestamptz,
    ends_at      timestamptz,
    all_day      boolean     NOT NULL DEFAULT false,
    published_at timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at IS NULL OR starts_at IS NULL OR ends_at >= starts_at)
);

CREATE TABLE announcement_dismissals (
    announcement_id bigint      NOT NULL REFERENCES announcements ON DELETE CASCADE,
    account_id      bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, announcement_id)
);

CREATE TABLE announcement_reactions (
    announcement_id bigint      NOT NULL REFERENCES announcements ON DELETE CASCADE,
    account_id      bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    name            text        NOT NULL CHECK (length(name) BETWEEN 1 AND 32),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (announcement_id, account_id, name)
);
CREATE INDEX announcement_reactions_by_account ON announcement_reactions (account_id);
