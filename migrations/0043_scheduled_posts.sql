-- Scheduled posts (issue 23): a post to publish later, as Mastodon's ScheduledStatus.
--
-- `draft` is what the client asked to post (text, visibility, media ids, poll...), checked when it was
-- scheduled. A delayed job of the `scheduled` queue publishes it: the publishing transaction deletes this
-- row and writes the post, so the post exists exactly when the row is gone, whatever the number of workers
-- and however one dies (its transaction rolls back, the job's lease runs out, another worker retries).
CREATE TABLE scheduled_posts (
    id             bigint      PRIMARY KEY,
    account_id     bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    scheduled_at   timestamptz NOT NULL,
    draft          jsonb       NOT NULL,
    application_id bigint,
    created_at     timestamptz NOT NULL DEFAULT now()
);
-- An account's scheduled posts (the list, and the per-day and total limits).
CREATE INDEX scheduled_posts_by_account ON scheduled_posts (account_id, scheduled_at);
