-- Issue 17, the bot's side: surveys answered in the Telegram bot, and
-- native Telegram polls in registered channels.

-- A survey being answered in the bot, one per chat, until it is sent
-- (deleted then), given up, forgotten (/forget) or expired. The chat is
-- only its keyed blind index (kind `survey_bot:v1`), never the chat id;
-- the progress (answers so far, the invitation token, the position) is
-- sealed under the row's own data key. Nothing here is copied to the
-- response: `survey_responses` never learns which chat answered.
CREATE TABLE survey_bot_sessions (
    id          uuid PRIMARY KEY,
    chat_bi     bytea NOT NULL UNIQUE,
    survey_id   uuid NOT NULL REFERENCES surveys (id) ON DELETE CASCADE,
    language    text NOT NULL CHECK (language IN ('ru', 'kk', 'en')),
    -- Wrapped under the master key (shared::rewrap).
    data_key    bytea NOT NULL,
    progress_ct bytea NOT NULL,
    expires_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX survey_bot_sessions_expiry ON survey_bot_sessions (expires_at);

-- A native poll the bot sent (anonymous: Telegram tells bots the counts
-- only, never who voted). The counts are what the last `poll` update said.
CREATE TABLE telegram_polls (
    id            uuid PRIMARY KEY,
    -- Telegram's poll id (from the sent message, then in `poll` updates).
    poll_id       text NOT NULL UNIQUE,
    -- The registry row; NULL once it is removed from the registry.
    channel_id    uuid REFERENCES telegram_channels (id) ON DELETE SET NULL,
    -- `@name` or the numeric id, as sent to.
    chat          text NOT NULL,
    message_id    bigint NOT NULL,
    question      text NOT NULL,
    -- The options' texts, in order.
    options       jsonb NOT NULL,
    -- voter_count per option, in the options' order.
    counts        bigint[] NOT NULL,
    total_voters  bigint NOT NULL DEFAULT 0,
    allows_multiple_answers boolean NOT NULL DEFAULT false,
    closed        boolean NOT NULL DEFAULT false,
    -- Optional links (not set by the admin API yet).
    survey_id     uuid REFERENCES surveys (id) ON DELETE SET NULL,
    campaign_id   uuid REFERENCES campaigns (id) ON DELETE SET NULL,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    closed_at     timestamptz
);
CREATE INDEX telegram_polls_created ON telegram_polls (created_at DESC);
