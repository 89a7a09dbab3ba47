-- Foundation: admin tokens, audit log, per-service outboxes and inboxes,
-- organiser-added places, leases. Table owners are listed in ARCHITECTURE.md.

-- intake: bearer tokens for the admin API, stored only as SHA-256 hashes.
CREATE TABLE admin_tokens (
    id           uuid PRIMARY KEY,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    role         text NOT NULL CHECK (role IN ('admin', 'organiser', 'caseworker')),
    token_hash   bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    created_by   text NOT NULL,
    revoked_at   timestamptz,
    last_used_at timestamptz
);

-- intake: who changed what and when. Ids and action names only, never
-- personal data.
CREATE TABLE audit_log (
    id         bigserial PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    actor_role text,
    action     text NOT NULL,
    target     text,
    details    jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_at ON audit_log (at);

-- One outbox per service: each service writes only its own.
CREATE TABLE intake_outbox (
    seq          bigserial PRIMARY KEY,
    id           uuid NOT NULL UNIQUE,
    event_type   text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX intake_outbox_unpublished ON intake_outbox (seq) WHERE published_at IS NULL;

CREATE TABLE scheduler_outbox (
    seq          bigserial PRIMARY KEY,
    id           uuid NOT NULL UNIQUE,
    event_type   text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX scheduler_outbox_unpublished ON scheduler_outbox (seq) WHERE published_at IS NULL;

CREATE TABLE notifier_outbox (
    seq          bigserial PRIMARY KEY,
    id           uuid NOT NULL UNIQUE,
    event_type   text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX notifier_outbox_unpublished ON notifier_outbox (seq) WHERE published_at IS NULL;

-- Processed-event keys of each consuming service: a redelivered event is
-- recognised and acknowledged without running its handler twice.
CREATE TABLE notifier_inbox (
    consumer     text NOT NULL,
    event_id     uuid NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
CREATE TABLE intake_inbox (LIKE notifier_inbox INCLUDING ALL);

-- intake: regions and cities organisers added to the built-in list.
CREATE TABLE custom_places (
    region_code text NOT NULL CHECK (region_code ~ '^[a-z0-9_]{1,40}$'),
    city_code   text NOT NULL DEFAULT '' CHECK (city_code ~ '^([a-z0-9_]{1,40})?$'),
    name_ru     text NOT NULL,
    name_kk     text NOT NULL,
    name_en     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (region_code, city_code)
);

-- Leases: one holder at a time for work that must not run twice at once
-- (e.g. the one Telegram sender per bot token). Each lease name is written
-- only by the service that owns that work.
CREATE TABLE leases (
    name       text PRIMARY KEY,
    holder     uuid NOT NULL,
    expires_at timestamptz NOT NULL
);
