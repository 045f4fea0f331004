-- Edits (issue 23): every version of an edited post, oldest first, for GET /api/v1/statuses/:id/history.
--
-- A post that was never edited has no rows here (its history is the post itself). The first edit writes two:
-- the original (created_at = the post's) and the new version; each later edit writes one. The posts row
-- always holds the current version, so reads of posts never join this table.
CREATE TABLE post_versions (
    -- A Snowflake: orders the versions, and says when the edit happened in the same terms as the ids of
    -- posts, so a reconnecting stream finds the edits made since its cursor (realtime/resume.py).
    id           bigint      PRIMARY KEY,
    post_id      bigint      NOT NULL REFERENCES posts ON DELETE CASCADE,
    text         text        NOT NULL,
    entities     jsonb       NOT NULL DEFAULT '[]',
    spoiler_text text        NOT NULL DEFAULT '',
    sensitive    boolean     NOT NULL DEFAULT false,
    language     text,
    -- The MediaAttachment entities as that version showed them (descriptions change with edits).
    media        jsonb       NOT NULL DEFAULT '[]',
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX post_versions_of_post ON post_versions (post_id, id);
-- Edits since a moment, for the stream resume: a range of this index.
CREATE INDEX post_versions_by_id ON post_versions (id, post_id);

-- Notifications of an edit (`update`, to those who reposted or quoted the post) and of a finished poll
-- (`poll`). Both carry their post.
ALTER TABLE notifications DROP CONSTRAINT notifications_type_known;
ALTER TABLE notifications ADD CONSTRAINT notifications_type_known
    CHECK (type IN ('mention', 'favourite', 'reaction', 'reblog', 'quote', 'follow', 'follow_request', 'update',
                    'poll'));
