-- The social core: posts (with replies, reposts and quotes), likes, reactions, follows.
--
-- Scale notes (the product notes plan for 1B posts a day): every row is keyed by a Snowflake id that
-- sorts by time, so "newest first" reads are index range scans; counters live on the row they count and
-- change in the same transaction as the rows they count; indexes that only some rows need are partial.

CREATE TYPE post_visibility AS ENUM ('public', 'unlisted', 'private', 'direct');

CREATE TABLE posts (
    id                     bigint          PRIMARY KEY,
    account_id             bigint          NOT NULL REFERENCES accounts ON DELETE CASCADE,
    visibility             post_visibility NOT NULL DEFAULT 'public',
    -- The source text as written; `entities` holds its parsed spans (mentions, hashtags, links) with
    -- code-point offsets into it (see domain/post_text.py). HTML is rendered from the two on read.
    text                   text            NOT NULL DEFAULT '',
    entities               jsonb           NOT NULL DEFAULT '[]',
    spoiler_text           text            NOT NULL DEFAULT '',
    sensitive              boolean         NOT NULL DEFAULT false,
    language               text,
    lat                    double precision CHECK (lat BETWEEN -90 AND 90),
    lon                    double precision CHECK (lon BETWEEN -180 AND 180),
    -- Replies: no foreign key, because a reply outlives its deleted parent and keeps pointing at it.
    in_reply_to_id         bigint,
    in_reply_to_account_id bigint,
    -- The thread: the root post's id, and the path of ids from the root down to this post (8 bytes each,
    -- big-endian), so a post's descendants are one index range in depth-first order (siblings oldest
    -- first). A top-level post is its own root, with a one-id path and depth 0.
    thread_root_id         bigint          NOT NULL,
    thread_path            bytea           NOT NULL,
    thread_depth           integer         NOT NULL DEFAULT 0,
    -- A repost is a post row pointing at the original (as Mastodon's reblog), so timelines carry it.
    -- delete_post removes reposts itself (adjusting counters); the cascade covers account deletion.
    reblog_of_id           bigint          REFERENCES posts (id) ON DELETE CASCADE,
    -- A quote keeps pointing at the quoted post after that post is deleted (shown as state "deleted").
    quote_of_id            bigint,
    application_id         bigint,
    -- Set by create_post when media are attached: profile `only_media` reads it without a join.
    has_media              boolean         NOT NULL DEFAULT false,
    replies_count          integer         NOT NULL DEFAULT 0 CHECK (replies_count >= 0),
    reposts_count          integer         NOT NULL DEFAULT 0 CHECK (reposts_count >= 0),
    likes_count            integer         NOT NULL DEFAULT 0 CHECK (likes_count >= 0),
    quotes_count           integer         NOT NULL DEFAULT 0 CHECK (quotes_count >= 0),
    created_at             timestamptz     NOT NULL DEFAULT now(),
    edited_at              timestamptz,
    CHECK (reblog_of_id IS NULL OR (in_reply_to_id IS NULL AND quote_of_id IS NULL))
);

-- Profile posts, newest first (also serves exclude_replies / exclude_reblogs / only_media as filters).
CREATE INDEX posts_by_account ON posts (account_id, id DESC);
-- Public timeline: public originals, newest first.
CREATE INDEX posts_public ON posts (id DESC) WHERE visibility = 'public' AND reblog_of_id IS NULL;
-- Thread reads: descendants of a post are a range of this index, already in depth-first order. Only
-- replies are indexed (descendants are always replies). The key holds the first 2,400 bytes of the path
-- (300 levels), which keeps index entries under PostgreSQL's btree limit however deep a thread grows;
-- deeper posts share a key prefix and are ordered by their full path (storage/posts.py).
CREATE INDEX posts_thread ON posts (thread_root_id, (substr(thread_path, 1, 2400)))
    WHERE in_reply_to_id IS NOT NULL;
-- One repost per account per post (the ON CONFLICT target), and who reposted a post, by repost id.
CREATE UNIQUE INDEX posts_one_repost ON posts (account_id, reblog_of_id) WHERE reblog_of_id IS NOT NULL;
CREATE INDEX posts_reposts_of ON posts (reblog_of_id, id) WHERE reblog_of_id IS NOT NULL;
-- Quotes of a post, by quoting post id.
CREATE INDEX posts_quotes_of ON posts (quote_of_id, id) WHERE quote_of_id IS NOT NULL;

-- Accounts a post mentions: private-post visibility, and "posts mentioning me" for notifications.
CREATE TABLE post_mentions (
    post_id    bigint NOT NULL REFERENCES posts ON DELETE CASCADE,
    account_id bigint NOT NULL REFERENCES accounts ON DELETE CASCADE,
    PRIMARY KEY (post_id, account_id)
);
CREATE INDEX post_mentions_by_account ON post_mentions (account_id, post_id DESC);

-- Hashtags, normalised (NFKC, lower case). A tag's posts newest first are a range of the primary key.
CREATE TABLE post_tags (
    tag     text   NOT NULL,
    post_id bigint NOT NULL REFERENCES posts ON DELETE CASCADE,
    PRIMARY KEY (tag, post_id)
);
CREATE INDEX post_tags_by_post ON post_tags (post_id);

-- Likes (Mastodon's favourites). The primary key makes a like unique per account and post; the id
-- orders "who liked this" and "what I liked" pages.
CREATE TABLE likes (
    id         bigint      NOT NULL,
    account_id bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    post_id    bigint      NOT NULL REFERENCES posts ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, post_id)
);
CREATE INDEX likes_of_post ON likes (post_id, id);
CREATE INDEX likes_by_account ON likes (account_id, id);

-- Reactions other than "like" (the reaction named like is a like). One row per account, post and name.
CREATE TABLE reactions (
    id         bigint      NOT NULL,
    account_id bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    post_id    bigint      NOT NULL REFERENCES posts ON DELETE CASCADE,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, post_id, name)
);
CREATE INDEX reactions_of_post ON reactions (post_id, name, id);

-- The notes' "LikeCount table": one counter per post and reaction name.
CREATE TABLE post_reaction_counts (
    post_id bigint  NOT NULL REFERENCES posts ON DELETE CASCADE,
    name    text    NOT NULL,
    count   integer NOT NULL DEFAULT 0 CHECK (count >= 0),
    PRIMARY KEY (post_id, name)
);

-- Follows: account_id follows target_account_id. Groups and bots are followed the same way.
CREATE TABLE follows (
    id                bigint      NOT NULL,
    account_id        bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    target_account_id bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    show_reposts      boolean     NOT NULL DEFAULT true,
    notify            boolean     NOT NULL DEFAULT false,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, target_account_id),
    CHECK (account_id <> target_account_id)
);
-- Followers of an account (pages, and the fan-out of its posts), and whom an account follows, by follow id.
CREATE INDEX follows_of_target ON follows (target_account_id, id);
CREATE INDEX follows_by_account ON follows (account_id, id);

-- Idempotency-Key of POST /api/v1/statuses: a retried request returns the first post. Kept for an hour.
CREATE TABLE post_idempotency_keys (
    account_id bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    key        text        NOT NULL,
    post_id    bigint      NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (account_id, key)
);
CREATE INDEX post_idempotency_keys_expiry ON post_idempotency_keys (expires_at);
