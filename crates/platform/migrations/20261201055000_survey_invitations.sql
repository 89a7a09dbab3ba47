-- Survey invitations (issue 17). A campaign may invite to a survey: its
-- messages carry each recipient's invitation link (a token derived from
-- the survey and the contact, never stored), and a reminder skips the
-- contacts whose invitation was already used.
ALTER TABLE campaigns
    ADD COLUMN survey_id uuid REFERENCES surveys (id) ON DELETE SET NULL,
    ADD COLUMN survey_reminder boolean NOT NULL DEFAULT false;

-- The invitations used, as survey-scoped keyed hashes, kept apart from the
-- responses: a used token tells "used", never which answers came with it.
-- (survey_responses.token_mac stays NULL from now on.)
CREATE TABLE survey_token_uses (
    survey_id  uuid NOT NULL REFERENCES surveys (id) ON DELETE CASCADE,
    token_mac  bytea NOT NULL,
    PRIMARY KEY (survey_id, token_mac)
);
