-- Direct messages (issue 23): each participant's list of conversations, as Mastodon's AccountConversation.
--
-- A conversation is a thread of direct posts (by its root), seen by one account: who else is in it, the
-- newest direct post, and whether the account has read it. Written by the `conversations` queue from
-- `post.created` after the post committed (idempotent: a retried job changes nothing), removed from one
-- account's list by DELETE /api/v1/conversations/:id (a later message in the thread brings it back).
CREATE TABLE conversations (
    id              bigint   PRIMARY KEY,
    account_id      bigint   NOT NULL REFERENCES accounts ON DELETE CASCADE,
    thread_root_id  bigint   NOT NULL,
    participant_ids bigint[] NOT NULL DEFAULT '{}',  -- the other accounts in it
    last_post_id    bigint   NOT NULL,
    unread          boolean  NOT NULL DEFAULT false,
    UNIQUE (account_id, thread_root_id)
);
-- An account's conversations, the latest message first (the list's pages).
CREATE INDEX conversations_by_account ON conversations (account_id, last_post_id DESC);
