-- Issue 22, the rules' cost: a version stamp per account for its blocks (either way), mutes, conversation
-- mutes and keyword filters, so that each process keeps an account's rules in memory and asks PostgreSQL
-- only whether they changed (domain/viewer_rules.py), instead of reading them all for every read and
-- every live event.
--
-- The stamp is moved by triggers, in the same transaction as the write, so no path that changes a rule
-- can forget it: a block stamps both its accounts (the blocked one's view changes too), a filter's keyword
-- or post stamps the filter's owner. An account without a row has never had a rule. Stamps come from one
-- sequence, so a stamp is never seen twice for an account.
CREATE SEQUENCE safety_version_seq;

CREATE TABLE safety_versions (
    account_id bigint PRIMARY KEY,  -- no foreign key: a stamp may be written while its account is deleted
    version    bigint NOT NULL
);

CREATE FUNCTION stamp_safety_version(account bigint) RETURNS void LANGUAGE sql AS $$
    INSERT INTO safety_versions (account_id, version)
    VALUES (account, nextval('safety_version_seq'))
    ON CONFLICT (account_id) DO UPDATE SET version = EXCLUDED.version
$$;

-- blocks: both sides; mutes, conversation mutes and filters: their owner.
CREATE FUNCTION stamp_rule_owner() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed record;
BEGIN
    IF TG_OP = 'DELETE' THEN
        changed := OLD;
    ELSE
        changed := NEW;
    END IF;
    PERFORM stamp_safety_version(changed.account_id);
    IF TG_TABLE_NAME = 'blocks' THEN
        PERFORM stamp_safety_version(changed.target_account_id);
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.account_id <> NEW.account_id THEN
        PERFORM stamp_safety_version(OLD.account_id);
    END IF;
    RETURN NULL;
END
$$;

-- A filter's keywords and posts: the filter's owner (gone with its filter on a cascade, stamped there).
CREATE FUNCTION stamp_filter_owner() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    owner bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        SELECT account_id INTO owner FROM filters WHERE id = OLD.filter_id;
    ELSE
        SELECT account_id INTO owner FROM filters WHERE id = NEW.filter_id;
    END IF;
    IF owner IS NOT NULL THEN
        PERFORM stamp_safety_version(owner);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER blocks_stamp AFTER INSERT OR UPDATE OR DELETE ON blocks
    FOR EACH ROW EXECUTE FUNCTION stamp_rule_owner();
CREATE TRIGGER mutes_stamp AFTER INSERT OR UPDATE OR DELETE ON mutes
    FOR EACH ROW EXECUTE FUNCTION stamp_rule_owner();
CREATE TRIGGER conversation_mutes_stamp AFTER INSERT OR UPDATE OR DELETE ON conversation_mutes
    FOR EACH ROW EXECUTE FUNCTION stamp_rule_owner();
CREATE TRIGGER filters_stamp AFTER INSERT OR UPDATE OR DELETE ON filters
    FOR EACH ROW EXECUTE FUNCTION stamp_rule_owner();
CREATE TRIGGER filter_keywords_stamp AFTER INSERT OR UPDATE OR DELETE ON filter_keywords
    FOR EACH ROW EXECUTE FUNCTION stamp_filter_owner();
CREATE TRIGGER filter_statuses_stamp AFTER INSERT OR UPDATE OR DELETE ON filter_statuses
    FOR EACH ROW EXECUTE FUNCTION stamp_filter_owner();

-- Accounts that have rules already.
INSERT INTO safety_versions (account_id, version)
SELECT account_id, nextval('safety_version_seq') FROM (
    SELECT account_id FROM blocks UNION SELECT target_account_id FROM blocks
    UNION SELECT account_id FROM mutes UNION SELECT account_id FROM conversation_mutes
    UNION SELECT account_id FROM filters
) AS ruled;
