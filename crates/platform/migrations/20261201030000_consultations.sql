-- Consultations («На связи»): people who write to the bot or to /talk,
-- their conversations with consultants, canned answers, anonymous
-- statistics. Owner: intake (the notifier writes only the delivery columns
-- of staff replies and the alert rows). See ARCHITECTURE.md.

-- A new role: consultants read and answer conversations, nothing else.
ALTER TABLE admin_tokens DROP CONSTRAINT admin_tokens_role_check;
ALTER TABLE admin_tokens ADD CONSTRAINT admin_tokens_role_check
    CHECK (role IN ('admin', 'organiser', 'caseworker', 'consultant'));
ALTER TABLE console_users DROP CONSTRAINT console_users_role_check;
ALTER TABLE console_users ADD CONSTRAINT console_users_role_check
    CHECK (role IN ('admin', 'organiser', 'caseworker', 'consultant'));
-- What a consultant can be referred to for (lawyer, psychologist, medic...):
-- referrals alert the users who have it. Never shown to a person.
ALTER TABLE console_users ADD COLUMN speciality text
    CHECK (speciality ~ '^[a-z_]{1,32}$');

-- A person who wrote. Telegram: the chat id sealed under the person's own
-- data key (associated data `consultation_person:<id>:chat`), found by its
-- blind index (kind `consultation`). Web: no chat, no blind index. The
-- pseudonym («Гость 7F3K») is what staff see, derived from the blind index
-- for Telegram (stable per person) and random for the web. Erasing the row
-- (`/forget`) erases every conversation of the person (cascade) and, with
-- the data keys, every ciphertext.
CREATE TABLE consultation_people (
    id         uuid PRIMARY KEY,
    chat_bi    bytea UNIQUE,
    data_key   bytea NOT NULL,
    chat_ct    bytea,
    pseudonym  text NOT NULL,
    -- NULL: not known yet (asked once).
    language   text CHECK (language IN ('ru', 'kk', 'en')),
    blocked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One conversation: a number (random, like an appeal's case number), for
-- the web an access code's keyed hash, and a data key of its own that seals
-- every message. At most one open conversation per person.
CREATE TABLE conversations (
    id                uuid PRIMARY KEY,
    number            text NOT NULL UNIQUE,
    person_id         uuid NOT NULL REFERENCES consultation_people (id) ON DELETE CASCADE,
    channel           text NOT NULL CHECK (channel IN ('telegram', 'web')),
    access_hash       bytea,
    language          text NOT NULL CHECK (language IN ('ru', 'kk', 'en')),
    state             text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    waiting_for       text NOT NULL DEFAULT 'staff' CHECK (waiting_for IN ('staff', 'person')),
    -- An admin token's or a console user's id (principal id).
    assigned_to       uuid,
    tags              text[] NOT NULL DEFAULT '{}',
    referred_to       text,
    data_key          bytea NOT NULL,
    -- The forum topic in `consultations.staff_group`, if any.
    staff_thread_id   bigint,
    created_at        timestamptz NOT NULL DEFAULT now(),
    last_message_at   timestamptz NOT NULL DEFAULT now(),
    -- Since when the person has been waiting for us (NULL: they are not).
    waiting_since     timestamptz DEFAULT now(),
    -- The last "still waiting" alert for this wait.
    alerted_at        timestamptz,
    first_response_at timestamptz,
    closed_at         timestamptz
);
CREATE UNIQUE INDEX conversations_one_open ON conversations (person_id) WHERE state = 'open';
CREATE INDEX conversations_inbox ON conversations (state, last_message_at DESC);
CREATE INDEX conversations_thread ON conversations (staff_thread_id) WHERE staff_thread_id IS NOT NULL;

-- Messages, sealed under the conversation's key (associated data
-- `conversation:<conversation id>:message:<id>:body` / `:media`). `note`s
-- are internal, never sent. A staff reply to a Telegram conversation is
-- delivered by the notifier at most once: queued -> sending -> sent, or
-- failed, or unknown (a crash while sending: shown as such, never resent).
CREATE TABLE conversation_messages (
    id              uuid PRIMARY KEY,
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    author          text NOT NULL CHECK (author IN ('person', 'staff', 'system', 'note')),
    staff_id        uuid,
    body_ct         bytea,
    media_ct        bytea,
    delivery        text CHECK (delivery IN ('queued', 'sending', 'sent', 'failed', 'unknown')),
    delivery_error  text,
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    sending_at      timestamptz,
    -- The message a consultant wrote in the staff topic, copied to the
    -- person as it is (copyMessage from the staff group).
    copy_of         bigint,
    tg_message_id   bigint,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX conversation_messages_by_conversation ON conversation_messages (conversation_id, created_at);
CREATE INDEX conversation_messages_to_send ON conversation_messages (next_attempt_at)
    WHERE delivery IN ('queued', 'sending');

-- Alerts to staff (a new conversation, one waiting too long, a referral):
-- the ledger's `consultation_alert` rows point here. Number only, never
-- content.
CREATE TABLE conversation_alerts (
    id              uuid PRIMARY KEY,
    conversation_id uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    reason          text NOT NULL CHECK (reason IN ('new', 'waiting', 'referral')),
    speciality      text,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Answers consultants reuse, per language; organisers edit them.
CREATE TABLE canned_answers (
    id         uuid PRIMARY KEY,
    language   text NOT NULL CHECK (language IN ('ru', 'kk', 'en')),
    title      text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body       text NOT NULL CHECK (length(body) BETWEEN 1 AND 4000),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- What is left of erased conversations: counts only.
CREATE TABLE consultation_stats (
    month               date NOT NULL,
    tag                 text NOT NULL,
    channel             text NOT NULL,
    resolution          text NOT NULL,
    conversations       int NOT NULL DEFAULT 0,
    responded           int NOT NULL DEFAULT 0,
    first_response_secs bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (month, tag, channel, resolution)
);
