-- Media: one row per upload, from its first request to its processed files (docs/media.md).
--
-- uploading -> pending -> in_progress -> succeeded | failed. The raw bytes sit under `uploads/<id>/` in S3
-- until a worker has processed them; the files clients see are written under new keys and named here only
-- by the single UPDATE that marks the row succeeded, so nothing half-processed is ever visible.
CREATE TABLE media (
    id              bigint PRIMARY KEY,
    account_id      bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    -- direct: pre-signed PUT to S3; chunked: INIT/APPEND/FINALIZE; form: one multipart request (Mastodon).
    flow            text        NOT NULL CHECK (flow IN ('direct', 'chunked', 'form')),
    state           text        NOT NULL DEFAULT 'uploading'
                    CHECK (state IN ('uploading', 'pending', 'in_progress', 'succeeded', 'failed')),
    declared_type   text        NOT NULL,
    category        text,
    file_name       text,
    total_bytes     bigint      NOT NULL CHECK (total_bytes > 0),
    -- Where the raw upload goes (direct, form); the S3 multipart upload of a large direct upload.
    raw_key         text        NOT NULL,
    s3_upload_id    text,
    part_size       bigint,
    part_etags      text[],
    description     text,
    focus_x         real        CHECK (focus_x BETWEEN -1 AND 1),
    focus_y         real        CHECK (focus_y BETWEEN -1 AND 1),
    -- The processing attempt that may publish its results: a worker whose lease ran out loses the race.
    attempt         text,
    progress        smallint    NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    kind            text        CHECK (kind IN ('image', 'gifv', 'video')),
    content_type    text,
    file_key        text,
    preview_key     text,
    file_size       bigint,
    meta            jsonb,
    blurhash        text,
    error_code      integer,
    error_name      text,
    error_message   text,
    -- A deleted post lets go of its media (they can be posted again, as Mastodon's delete-and-redraft does).
    post_id         bigint      REFERENCES posts ON DELETE SET NULL,
    position        smallint,
    expires_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    processed_at    timestamptz,
    CHECK (state <> 'succeeded'
           OR (kind IS NOT NULL AND file_key IS NOT NULL AND preview_key IS NOT NULL AND meta IS NOT NULL)),
    CHECK (post_id IS NULL OR state = 'succeeded')
);
CREATE INDEX media_expiring_uploads ON media (expires_at) WHERE state = 'uploading';
CREATE INDEX media_by_post ON media (post_id, position) WHERE post_id IS NOT NULL;
CREATE INDEX media_by_account ON media (account_id, id);

-- Segments of a chunked upload, each staged as its own S3 object until the worker joins them.
-- A re-sent segment replaces the row (and its object) of the earlier one.
CREATE TABLE media_segments (
    media_id        bigint  NOT NULL REFERENCES media ON DELETE CASCADE,
    segment_index   integer NOT NULL CHECK (segment_index BETWEEN 0 AND 999),
    size            bigint  NOT NULL CHECK (size > 0),
    object_key      text    NOT NULL,
    PRIMARY KEY (media_id, segment_index)
);
