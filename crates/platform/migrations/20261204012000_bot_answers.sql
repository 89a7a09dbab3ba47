-- Issue 26: one sending budget per bot, people first. What the bot answers
-- to a person (a command, a button, the automatic answer with the
-- emergency text) is handed from intake to the one process that sends for
-- the bot (the holder of its sending lease), which serves it before
-- consultants' replies, staff alerts and broadcasts. The method and its
-- parameters (a chat id, the text) are sealed under the row's own data key;
-- a row lives from the person's action until Telegram took the answer.
CREATE TABLE bot_answers (
    id         uuid PRIMARY KEY,
    -- Sending order (an update's answers go in the order they were made).
    seq        bigserial NOT NULL,
    bot_id     text NOT NULL,
    -- 0 answer, 1 reply (see shared::telegram::budget::Class).
    class      smallint NOT NULL CHECK (class BETWEEN 0 AND 3),
    data_key   bytea NOT NULL,
    payload_ct bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Taken by the sender (a crashed sender's rows are taken again).
    claimed_at timestamptz,
    attempts   integer NOT NULL DEFAULT 0
);
CREATE INDEX bot_answers_due ON bot_answers (bot_id, seq);
