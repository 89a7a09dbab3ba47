-- The organisers' console (/admin): the people who sign in, their sessions
-- and their one-time sign-in links (intake). The notifier reads users and
-- links to send the link by email, and writes only its deliveries ledger.

-- intake: a person who signs in to the console. The email address is sealed
-- under the row's own data key (associated data `console_user:<id>:email`)
-- and found by its blind index (kind `console_user`); the password is an
-- argon2id PHC string; the TOTP secret is sealed under the data key too.
-- `failed_attempts` and `locked_until` are the per-user lock-out.
CREATE TABLE console_users (
    id              uuid PRIMARY KEY,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    role            text NOT NULL CHECK (role IN ('admin', 'organiser', 'caseworker')),
    language        text NOT NULL DEFAULT 'ru' CHECK (language IN ('ru', 'kk', 'en')),
    email_bi        bytea NOT NULL UNIQUE,
    data_key        bytea NOT NULL,
    email_ct        bytea NOT NULL,
    -- NULL: the person signs in only with emailed links.
    password_hash   text,
    -- The confirmed TOTP secret (NULL: no second factor) and one being set up.
    totp_ct         bytea,
    totp_pending_ct bytea,
    -- The last accepted TOTP time step: a code is never accepted twice.
    totp_last_step  bigint NOT NULL DEFAULT 0,
    failed_attempts int NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    last_sign_in_at timestamptz,
    disabled_at     timestamptz
);

-- intake: signed-in browsers. The cookie holds a random id; only its
-- SHA-256 is stored. `stage` is `second_factor` between a correct password
-- (or link) and the TOTP code, `full` after. Sessions end at `expires_at`
-- (idle limit, renewed on use, never past `max_expires_at`); "sign out
-- everywhere" deletes all of a user's rows.
CREATE TABLE console_sessions (
    id_hash        bytea PRIMARY KEY,
    user_id        uuid NOT NULL REFERENCES console_users (id) ON DELETE CASCADE,
    stage          text NOT NULL CHECK (stage IN ('second_factor', 'full')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    max_expires_at timestamptz NOT NULL
);
CREATE INDEX console_sessions_user ON console_sessions (user_id);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- intake: one-time sign-in links sent by email. The row id is the ledger's
-- reference (one email per link); the token is stored as SHA-256 (look-up)
-- and sealed under the user's data key (associated data
-- `console_link:<id>:token`) so the notifier can put it in the email.
CREATE TABLE console_sign_in_links (
    id         uuid PRIMARY KEY,
    user_id    uuid NOT NULL REFERENCES console_users (id) ON DELETE CASCADE,
    token_hash bytea NOT NULL UNIQUE,
    token_ct   bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX console_sign_in_links_user ON console_sign_in_links (user_id, created_at);
