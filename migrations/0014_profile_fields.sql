-- Profile fields (Mastodon's `fields`, set through update_credentials' `fields_attributes`): up to four
-- name/value pairs as written (plain text), `[{"name": ..., "value": ...}]`. The API renders the values.
ALTER TABLE accounts
    ADD COLUMN fields jsonb NOT NULL DEFAULT '[]'
        CHECK (jsonb_typeof(fields) = 'array' AND jsonb_array_length(fields) <= 4);
