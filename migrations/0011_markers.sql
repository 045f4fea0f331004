-- Read markers (Mastodon's /api/v1/markers): where each account stopped reading its home timeline and its
-- notifications, so every device shows the same place and the same unread count. `version` counts the
-- updates (Mastodon's lock_version): 0 when first set, one more each time last_read_id changes.
CREATE TABLE markers (
    account_id   bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    timeline     text        NOT NULL CHECK (timeline IN ('home', 'notifications')),
    last_read_id bigint      NOT NULL CHECK (last_read_id >= 0),
    version      integer     NOT NULL DEFAULT 0 CHECK (version >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, timeline)
);
