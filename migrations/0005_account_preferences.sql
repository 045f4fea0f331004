-- What a user sets about their own account beyond the profile text: whether they appear in discovery, and
-- the defaults their clients read back as `source` and /api/v1/preferences.
ALTER TABLE accounts
    ADD COLUMN discoverable      boolean NOT NULL DEFAULT true,
    ADD COLUMN default_privacy   text    NOT NULL DEFAULT 'public'
        CHECK (default_privacy IN ('public', 'unlisted', 'private')),
    ADD COLUMN default_sensitive boolean NOT NULL DEFAULT false,
    ADD COLUMN default_language  text CHECK (default_language ~ '^[a-z]{2,3}$');

-- The token an authorization code was exchanged for: a second use of the code revokes it (RFC 6749 §4.1.2).
ALTER TABLE oauth_codes ADD COLUMN token_id bigint;
