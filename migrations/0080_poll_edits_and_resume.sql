-- Issue 23, polls after delivery: edits that change a post's poll, and a stream resume that carries the
-- counts a client missed.
--
-- `counted_id` is a Snowflake minted with each counted vote (and with a reset by an edit): it says when the
-- counts last changed in the same terms as the ids of posts, so a stream resuming from its cursor (a post
-- id) finds the polls whose counts changed since (realtime/resume.py), as post_versions.id does for edits.
ALTER TABLE polls ADD COLUMN counted_id bigint;
CREATE INDEX polls_by_counted_id ON polls (counted_id) WHERE counted_id IS NOT NULL;

-- The poll's options as each version of the post showed them (NULL: that version had no poll), for the
-- StatusEdit entity's `poll` in GET /api/v1/statuses/:id/history.
ALTER TABLE post_versions ADD COLUMN poll_options text[];
