-- Supporters' contacts (intake), the suppression list and the deliveries
-- ledger (notifier).

-- intake: one row per (channel, address). The address is sealed under the
-- row's own data key, which is stored wrapped by the master key; deleting
-- the row is crypto-shredding. Look-ups go through blind_index (HMAC of
-- the normalised address). Tokens are stored hashed for look-up and sealed
-- so the notifier can put them in links.
CREATE TABLE contacts (
    id                 uuid PRIMARY KEY,
    channel            text NOT NULL CHECK (channel IN ('email', 'telegram')),
    status             text NOT NULL CHECK (status IN ('pending', 'active', 'unsubscribed')),
    blind_index        bytea NOT NULL,
    data_key           bytea NOT NULL,
    address_ct         bytea NOT NULL,
    language           text NOT NULL CHECK (language IN ('ru', 'kk', 'en')),
    topics             text[] NOT NULL DEFAULT '{}',
    region             text,
    confirm_nonce      uuid,
    confirm_token_hash bytea UNIQUE,
    confirm_token_ct   bytea,
    confirm_issued_at  timestamptz,
    confirm_expires_at timestamptz,
    unsub_token_hash   bytea NOT NULL UNIQUE,
    unsub_token_ct     bytea NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    confirmed_at       timestamptz,
    unsubscribed_at    timestamptz,
    UNIQUE (channel, blind_index)
);
CREATE INDEX contacts_pending ON contacts (created_at) WHERE status = 'pending';
CREATE INDEX contacts_active ON contacts (channel, language) WHERE status = 'active';

-- notifier: addresses that must not be mailed again (hard bounce,
-- complaint), by blind index only.
CREATE TABLE suppressions (
    channel     text NOT NULL,
    blind_index bytea NOT NULL,
    reason      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel, blind_index)
);

-- notifier: the deliveries ledger. One row per (kind, reference, contact,
-- channel): for a campaign the reference is the occurrence, for a
-- confirmation the contact's confirmation nonce. No personal data here:
-- the address is read from contacts at send time.
CREATE TABLE deliveries (
    id                  uuid PRIMARY KEY,
    kind                text NOT NULL,
    ref_id              uuid NOT NULL,
    contact_id          uuid NOT NULL,
    channel             text NOT NULL,
    status              text NOT NULL DEFAULT 'queued'
                        CHECK (status IN ('queued', 'sending', 'sent', 'retry', 'failed', 'skipped')),
    attempts            int NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL DEFAULT now(),
    locked_until        timestamptz,
    last_error          text,
    provider_message_id text,
    provider_reply      text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    sent_at             timestamptz,
    UNIQUE (kind, ref_id, contact_id, channel)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status IN ('queued', 'retry');
CREATE INDEX deliveries_sending ON deliveries (locked_until) WHERE status = 'sending';
