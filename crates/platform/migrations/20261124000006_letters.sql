-- Letters to officials in bulk: the officials directory, letter campaigns,
-- their targets and signatures, organisers' resolutions of `unknown`
-- letters (intake); the pacing state of the letter sender (notifier). The
-- letters themselves are rows of the deliveries ledger (kind 'letter').
-- Owners are listed in ARCHITECTURE.md.

-- intake: officials. Everything that names a person or an office is sealed
-- under the row's own data key (AAD: official:<id>:<column>); the email is
-- looked up by its blind index (kind 'email'), its domain by another
-- (kind 'email_domain', for per-domain throttling without the domain in
-- clear). Office hours: ISO weekdays (1 = Monday) and local minutes of the
-- day, end exclusive, 1440 = midnight.
CREATE TABLE officials (
    id              uuid PRIMARY KEY,
    data_key        bytea NOT NULL,
    name_ct         bytea NOT NULL,
    position_ct     bytea NOT NULL,
    organisation_ct bytea NOT NULL,
    email_ct        bytea NOT NULL,
    email_bi        bytea NOT NULL UNIQUE,
    domain_bi       bytea NOT NULL,
    language        text NOT NULL CHECK (language IN ('ru', 'kk', 'en')),
    time_zone       text NOT NULL,
    office_days     int[] NOT NULL DEFAULT '{1,2,3,4,5}',
    office_start    int NOT NULL DEFAULT 540 CHECK (office_start BETWEEN 0 AND 1439),
    office_end      int NOT NULL DEFAULT 1080 CHECK (office_end BETWEEN 1 AND 1440),
    daily_cap       int CHECK (daily_cap > 0),
    version         int NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (office_start < office_end)
);

-- intake: a letter campaign as organisers define it. `status` holds only
-- their decision (draft, approved, cancelled); "collecting", "sending" and
-- "done" are derived (see ARCHITECTURE.md), so the table has one writer.
CREATE TABLE letters (
    id                        uuid PRIMARY KEY,
    slug                      text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,59}$'),
    name                      text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    mode                      text NOT NULL CHECK (mode IN ('each', 'collective')),
    status                    text NOT NULL DEFAULT 'draft'
                              CHECK (status IN ('draft', 'approved', 'cancelled')),
    -- Per language code: subject, body, optional page_text (the public page).
    templates                 jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- The organisation's address for replies when a signer's is not used.
    reply_to                  text,
    -- each: letters not before it (default: as signatures are confirmed);
    -- collective: the one letter per official goes at it.
    send_at                   timestamptz,
    -- Signing (and confirming) ends; collective: send_at.
    closes_at                 timestamptz,
    -- Per-letter limits; NULL: the [letters] configuration.
    official_interval_minutes int CHECK (official_interval_minutes >= 0),
    domain_per_minute         int CHECK (domain_per_minute > 0),
    version                   int NOT NULL DEFAULT 1,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    approved_at               timestamptz,
    CHECK (mode = 'each' OR send_at IS NOT NULL)
);

-- intake: which officials a letter goes to. The target id is the ledger's
-- ref_id, so (letter, official) is one id.
CREATE TABLE letter_targets (
    id          uuid PRIMARY KEY,
    letter_id   uuid NOT NULL REFERENCES letters (id) ON DELETE CASCADE,
    official_id uuid NOT NULL REFERENCES officials (id),
    UNIQUE (letter_id, official_id)
);
CREATE INDEX letter_targets_official ON letter_targets (official_id);

-- intake: signatures. Name, city, note and address sealed under the row's
-- data key (AAD: signature:<id>:<column>); one signature per address and
-- letter (blind index). It counts once confirmed_at is set and until
-- withdrawn_at; withdrawal wipes the sealed fields and the data key.
CREATE TABLE letter_signatures (
    id                  uuid PRIMARY KEY,
    letter_id           uuid NOT NULL REFERENCES letters (id) ON DELETE CASCADE,
    email_bi            bytea NOT NULL,
    data_key            bytea,
    name_ct             bytea,
    city_ct             bytea,
    note_ct             bytea,
    email_ct            bytea,
    language            text NOT NULL CHECK (language IN ('ru', 'kk', 'en')),
    allow_reply_to      boolean NOT NULL DEFAULT false,
    consent_at          timestamptz NOT NULL,
    confirm_nonce       uuid,
    confirm_token_hash  bytea UNIQUE,
    confirm_token_ct    bytea,
    confirm_issued_at   timestamptz,
    confirm_expires_at  timestamptz,
    withdraw_token_hash bytea NOT NULL UNIQUE,
    withdraw_token_ct   bytea,
    created_at          timestamptz NOT NULL DEFAULT now(),
    confirmed_at        timestamptz,
    withdrawn_at        timestamptz,
    UNIQUE (letter_id, email_bi),
    CHECK (withdrawn_at IS NOT NULL OR (data_key IS NOT NULL AND name_ct IS NOT NULL
                                        AND city_ct IS NOT NULL AND email_ct IS NOT NULL))
);
CREATE INDEX letter_signatures_counted ON letter_signatures (letter_id)
    WHERE confirmed_at IS NOT NULL AND withdrawn_at IS NULL;
CREATE INDEX letter_signatures_pending ON letter_signatures (created_at) WHERE confirmed_at IS NULL;

-- intake: an organiser's decision about a letter whose fate is unknown
-- (mark it sent, or send it again). The notifier applies a resolution
-- newer than the ledger row's last change; audited.
CREATE TABLE letter_resolutions (
    id          uuid PRIMARY KEY,
    delivery_id uuid NOT NULL,
    resolution  text NOT NULL CHECK (resolution IN ('sent', 'requeue')),
    actor       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX letter_resolutions_delivery ON letter_resolutions (delivery_id, created_at);

-- notifier: when the next letter may start, per official ('o:<id>') and
-- per recipient domain ('d:<hex of the domain blind index>'), and how many
-- letters an official got on its local day.
CREATE TABLE letter_pacing (
    key         text PRIMARY KEY,
    next_at     timestamptz NOT NULL,
    day         date,
    sent_on_day int NOT NULL DEFAULT 0
);

-- notifier: letters are at-most-once. A letter found in 'sending' after its
-- lease expired may or may not have reached the official's server: it is
-- flagged 'unknown' for an organiser to check, never retried by itself.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_status_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_status_check
    CHECK (status IN ('queued', 'sending', 'sent', 'retry', 'failed', 'skipped', 'unknown'));
CREATE INDEX deliveries_letters_due ON deliveries (next_attempt_at)
    WHERE kind = 'letter' AND status IN ('queued', 'retry');
