-- Accounts and sign-in: accounts, OAuth applications, authorization codes and access tokens.
-- Secrets (passwords, client secrets, codes, tokens) are stored only as hashes.
CREATE TABLE accounts (
    id              bigint PRIMARY KEY,
    username        text        NOT NULL CHECK (username ~ '^[A-Za-z0-9_]{1,30}$'),
    email           text        NOT NULL,
    password_hash   text        NOT NULL,
    display_name    text        NOT NULL DEFAULT '',
    note            text        NOT NULL DEFAULT '',
    -- The notes' "Pages": accounts marked as a group or a bot; following them works the same.
    bot             boolean     NOT NULL DEFAULT false,
    is_group        boolean     NOT NULL DEFAULT false,
    locked          boolean     NOT NULL DEFAULT false,
    followers_count integer     NOT NULL DEFAULT 0 CHECK (followers_count >= 0),
    following_count integer     NOT NULL DEFAULT 0 CHECK (following_count >= 0),
    posts_count     integer     NOT NULL DEFAULT 0 CHECK (posts_count >= 0),
    last_post_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX accounts_username_key ON accounts (lower(username));
CREATE UNIQUE INDEX accounts_email_key ON accounts (lower(email));

CREATE TABLE oauth_apps (
    id                 bigint PRIMARY KEY,
    name               text        NOT NULL,
    website            text,
    redirect_uris      text[]      NOT NULL DEFAULT '{}',
    scopes             text[]      NOT NULL DEFAULT '{read}',
    client_id          text        NOT NULL UNIQUE,
    client_secret_hash bytea       NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now()
);

-- Authorization codes of the authorization-code flow: short-lived and single-use.
CREATE TABLE oauth_codes (
    code_hash    bytea PRIMARY KEY,
    app_id       bigint      NOT NULL REFERENCES oauth_apps ON DELETE CASCADE,
    account_id   bigint      NOT NULL REFERENCES accounts ON DELETE CASCADE,
    redirect_uri text        NOT NULL,
    scopes       text[]      NOT NULL,
    code_challenge        text,
    code_challenge_method text,
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz
);

CREATE TABLE access_tokens (
    id           bigint PRIMARY KEY,
    token_hash   bytea       NOT NULL UNIQUE,
    refresh_hash bytea UNIQUE,
    app_id       bigint      REFERENCES oauth_apps ON DELETE CASCADE,
    -- NULL for an application's own token (client_credentials): it can register accounts, not act as one.
    account_id   bigint      REFERENCES accounts ON DELETE CASCADE,
    scopes       text[]      NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);
CREATE INDEX access_tokens_account ON access_tokens (account_id);
