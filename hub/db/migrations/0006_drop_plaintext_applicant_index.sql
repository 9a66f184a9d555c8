-- Since 0005 the applicant's ID number is stored encrypted (a fresh nonce each time), so an
-- index on it can never be used; lookups go through applicant_id_index. Dropping it saves
-- one b-tree update on every application written.
DROP INDEX IF EXISTS applications_applicant;
