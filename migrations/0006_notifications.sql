-- Notifications: what happened to an account because of someone else (mention, reply, like, reaction,
-- repost, quote, follow). Written by the `notifications` queue from the durable events, after the write
-- that caused them committed; read newest first by the account they are for.

CREATE TABLE notifications (
    id              bigint      PRIMARY KEY,
    -- Who is notified, and who acted.
    account_id      bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    from_account_id bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    -- Mastodon's names: a reply is a `mention` (Mastodon replies always mention), a like a `favourite`,
    -- a repost a `reblog`. `reaction` carries the reaction's name.
    type            text        NOT NULL
        CHECK (type IN ('mention', 'favourite', 'reaction', 'reblog', 'quote', 'follow')),
    -- The post shown with it: the mentioning, replying or quoting post; the liked, reacted-to or reposted
    -- original. Deleting the post deletes its notifications, as Mastodon does. NULL for follows.
    post_id         bigint      REFERENCES posts ON DELETE CASCADE,
    reaction        text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((type = 'follow') = (post_id IS NULL)),
    CHECK ((type = 'reaction') = (reaction <> ''))
);

-- One notification per cause: a retried job (delivery is at least once) inserts nothing twice, and undoing
-- the cause (unlike, unfollow, ...) finds the row to remove.
CREATE UNIQUE INDEX notifications_once
    ON notifications (account_id, type, from_account_id, coalesce(post_id, 0), reaction);
-- An account's notifications newest first: a range of this index (pages, resume after a reconnect).
CREATE INDEX notifications_by_account ON notifications (account_id, id DESC);
-- The cascade from a deleted post.
CREATE INDEX notifications_by_post ON notifications (post_id) WHERE post_id IS NOT NULL;
