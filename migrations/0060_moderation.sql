-- Moderation (issue 22): warnings reach their account as `moderation_warning` notifications, and accounts
-- keep the address they last signed in from (the admin API's `ip`, and its `ip` filter).

-- A moderation warning's notification names its warning (account_warnings, 0030) and no post; it comes
-- from the moderator who took the action.
ALTER TABLE notifications ADD COLUMN warning_id bigint REFERENCES account_warnings ON DELETE CASCADE;
ALTER TABLE notifications DROP CONSTRAINT notifications_type_known;
ALTER TABLE notifications ADD CONSTRAINT notifications_type_known
    CHECK (type IN ('mention', 'favourite', 'reaction', 'reblog', 'quote', 'follow', 'follow_request', 'update',
                    'poll', 'moderation_warning'));
ALTER TABLE notifications DROP CONSTRAINT notifications_post_unless_follow;
ALTER TABLE notifications ADD CONSTRAINT notifications_post_unless_follow
    CHECK ((type IN ('follow', 'follow_request', 'moderation_warning')) = (post_id IS NULL));
ALTER TABLE notifications ADD CONSTRAINT notifications_warning_named
    CHECK ((type = 'moderation_warning') = (warning_id IS NOT NULL));
-- One notification per cause: each warning is a cause of its own (the same moderator may warn twice).
DROP INDEX notifications_once;
CREATE UNIQUE INDEX notifications_once
    ON notifications (account_id, type, from_account_id, coalesce(post_id, 0), reaction, coalesce(warning_id, 0));

ALTER TABLE accounts ADD COLUMN last_sign_in_ip inet;

-- The admin API's account listing by moderation state: small partial indexes (few accounts are in any).
CREATE INDEX accounts_suspended ON accounts (id DESC) WHERE suspended_at IS NOT NULL;
CREATE INDEX accounts_silenced ON accounts (id DESC) WHERE silenced_at IS NOT NULL;
CREATE INDEX accounts_disabled ON accounts (id DESC) WHERE disabled_at IS NOT NULL;
CREATE INDEX accounts_staff ON accounts (id DESC) WHERE role <> 'user';
CREATE INDEX reports_by_reporter ON reports (account_id, id DESC);
