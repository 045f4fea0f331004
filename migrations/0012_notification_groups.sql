-- Grouped notifications (Mastodon 4.3) and follow requests.
--
-- `group_key` is set, when the notification is written, for the types Mastodon groups: a favourite or a
-- reblog of the same post (`favourite-<post>-<hour>`), any follow (`follow-<hour>`). <hour> is the hour
-- (UNIX time / 3600) the group began: a new one reuses the latest group's hour unless that began 12 hours
-- or more before, as Mastodon's NotifyService does. Other types have none and are shown as
-- `ungrouped-<id>`. Rows written before this migration stay ungrouped.
ALTER TABLE notifications ADD COLUMN group_key text;

-- A locked account's incoming follow requests notify it as `follow_request` (no post, like a follow).
-- The table's CHECK constraints were unnamed; replace them with named ones that know the new type.
DO $$
DECLARE c record;
BEGIN
    FOR c IN SELECT conname FROM pg_constraint WHERE conrelid = 'notifications'::regclass AND contype = 'c' LOOP
        EXECUTE format('ALTER TABLE notifications DROP CONSTRAINT %I', c.conname);
    END LOOP;
END $$;
ALTER TABLE notifications
    ADD CONSTRAINT notifications_type_known
        CHECK (type IN ('mention', 'favourite', 'reaction', 'reblog', 'quote', 'follow', 'follow_request')),
    ADD CONSTRAINT notifications_post_unless_follow
        CHECK ((type IN ('follow', 'follow_request')) = (post_id IS NULL)),
    ADD CONSTRAINT notifications_reaction_named
        CHECK ((type = 'reaction') = (reaction <> ''));

-- A group's members, newest first (a group's count, samples and most recent member; dismissing a group).
CREATE INDEX notifications_by_group ON notifications (account_id, group_key, id DESC) WHERE group_key IS NOT NULL;
-- The latest group of a kind (type and post), which a new notification may join.
CREATE INDEX notifications_latest_group ON notifications (account_id, type, coalesce(post_id, 0), id DESC)
    WHERE group_key IS NOT NULL;
