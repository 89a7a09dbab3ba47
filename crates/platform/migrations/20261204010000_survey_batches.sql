-- Issue 24: survey answers that nothing can join to the invitation that
-- carried them, not even a copy of the database with every key.
--
-- A used invitation is no longer written in the answer's transaction. It
-- waits, with the survey's other pending ones, in one sorted array per
-- survey (which says which invitations are pending, not in what order nor
-- with which answer); the answers wait as "unsettled" rows. Once five
-- answers are unsettled, one transaction writes the pending invitations to
-- survey_token_uses and writes the unsettled answers again, ordered by
-- their random ids (the invitations by their keyed hashes) and with one
-- day: every row of a batch then carries the same transaction id (xmin),
-- and no row order and no timestamp tells them apart.

ALTER TABLE surveys ADD COLUMN invited_only boolean NOT NULL DEFAULT false;

CREATE TABLE survey_token_pending (
    survey_id uuid PRIMARY KEY REFERENCES surveys (id) ON DELETE CASCADE,
    -- Keyed hashes of the invitations used since the last batch, sorted.
    macs      bytea[] NOT NULL DEFAULT '{}'
);

-- The answers stored before this migration were written in the same
-- transaction as their invitation's use: write them all again, ordered by
-- their random ids, in this one transaction (so their xmin is this
-- migration's).
CREATE TEMP TABLE old_responses ON COMMIT DROP AS
    SELECT id, survey_id, language, submitted_at, token_mac FROM survey_responses;
CREATE TEMP TABLE old_answers ON COMMIT DROP AS
    SELECT response_id, question_id, value, text_ct FROM survey_answers;
CREATE TEMP TABLE old_uses ON COMMIT DROP AS
    SELECT survey_id, token_mac FROM survey_token_uses;
DELETE FROM survey_answers;
DELETE FROM survey_responses;
DELETE FROM survey_token_uses;
INSERT INTO survey_responses (id, survey_id, language, submitted_at, token_mac)
    SELECT id, survey_id, language, submitted_at, token_mac FROM old_responses ORDER BY id;
INSERT INTO survey_answers (response_id, question_id, value, text_ct)
    SELECT response_id, question_id, value, text_ct FROM old_answers ORDER BY response_id, question_id, value;
INSERT INTO survey_token_uses (survey_id, token_mac)
    SELECT survey_id, token_mac FROM old_uses ORDER BY survey_id, token_mac;

-- Answers written since the last batch (new rows start unsettled).
ALTER TABLE survey_responses ADD COLUMN settled boolean NOT NULL DEFAULT true;
ALTER TABLE survey_responses ALTER COLUMN settled SET DEFAULT false;
CREATE INDEX survey_responses_unsettled ON survey_responses (survey_id) WHERE NOT settled;
