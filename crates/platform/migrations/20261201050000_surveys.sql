-- Surveys (issue 17): anonymous questionnaires. A response row carries no
-- contact id, no account and no IP address; its time is the day only, its
-- id is random (never a time-ordered UUID). An invitation token is kept
-- only as a keyed hash, unique per survey, to refuse a second answer.
-- Free-text answers are sealed under the survey's data key.

CREATE TABLE surveys (
    id          uuid PRIMARY KEY,
    slug        text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
    -- {"ru": "...", "kk": "...", "en": "..."}
    title       jsonb NOT NULL,
    intro       jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- The questions as the admin API takes them (kinds, options, skip_if).
    questions   jsonb NOT NULL,
    state       text NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'open', 'closed')),
    opens_at    timestamptz,
    closes_at   timestamptz,
    -- Wrapped under the master key (shared::rewrap); seals free text.
    data_key    bytea NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE survey_responses (
    id            uuid PRIMARY KEY,
    survey_id     uuid NOT NULL REFERENCES surveys (id) ON DELETE CASCADE,
    -- The language the survey was answered in (a cross-tab dimension).
    language      text NOT NULL CHECK (language IN ('ru', 'kk', 'en')),
    -- The day only.
    submitted_at  date NOT NULL DEFAULT current_date,
    -- Keyed hash of a one-time invitation token (survey-scoped).
    token_mac     bytea,
    UNIQUE (survey_id, token_mac)
);

CREATE INDEX survey_responses_survey ON survey_responses (survey_id);

CREATE TABLE survey_answers (
    response_id  uuid NOT NULL REFERENCES survey_responses (id) ON DELETE CASCADE,
    question_id  text NOT NULL,
    -- choice / scale / number / date / region / site (one row per chosen
    -- option of a multiple-choice question).
    value        text,
    -- free text, sealed under the survey's data key.
    text_ct      bytea,
    CHECK ((value IS NULL) <> (text_ct IS NULL))
);

CREATE INDEX survey_answers_response ON survey_answers (response_id);
