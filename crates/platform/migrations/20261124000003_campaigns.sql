-- Awareness-day campaigns: campaigns and custom days (intake), schedule
-- state and occurrences (scheduler). Deliveries go to the ledger (notifier).

-- intake: a campaign as organisers define it. `status` is the organisers'
-- decision (draft, approved, paused, cancelled); "scheduled", "running" and
-- "done" are derived from occurrences and deliveries (see ARCHITECTURE.md),
-- so that this table keeps a single writer.
CREATE TABLE campaigns (
    id              uuid PRIMARY KEY,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    status          text NOT NULL DEFAULT 'draft'
                    CHECK (status IN ('draft', 'approved', 'paused', 'cancelled')),
    -- 'cron' (cron_expr), 'once' (once_at, local date-times), 'day' (an
    -- awareness day's code at send_time, every year).
    schedule_kind   text NOT NULL CHECK (schedule_kind IN ('cron', 'once', 'day')),
    cron_expr       text,
    once_at         timestamp[] NOT NULL DEFAULT '{}',
    day_code        text,
    send_time       time,
    time_zone       text NOT NULL,
    topics          text[] NOT NULL DEFAULT '{}',
    languages       text[] NOT NULL DEFAULT '{}',
    regions         text[] NOT NULL DEFAULT '{}',
    channels        text[] NOT NULL,
    templates       jsonb NOT NULL DEFAULT '{}'::jsonb,
    quiet_start     time NOT NULL,
    quiet_end       time NOT NULL,
    version         int NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    approved_at     timestamptz
);
CREATE INDEX campaigns_live ON campaigns (updated_at) WHERE status = 'approved';

-- intake: awareness days organisers added to the built-in calendar.
CREATE TABLE awareness_days (
    code       text PRIMARY KEY CHECK (code ~ '^[a-z0-9_]{1,60}$'),
    month      int NOT NULL CHECK (month BETWEEN 1 AND 12),
    day        int NOT NULL CHECK (day BETWEEN 1 AND 31),
    name_ru    text NOT NULL,
    name_kk    text NOT NULL,
    name_en    text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- intake: test sends requested before approval (the address is sealed).
CREATE TABLE campaign_test_sends (
    id          uuid PRIMARY KEY,
    campaign_id uuid NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    channel     text NOT NULL CHECK (channel IN ('email', 'telegram')),
    language    text NOT NULL,
    data_key    bytea NOT NULL,
    address_ct  bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- scheduler: where each live campaign's schedule stands.
CREATE TABLE schedule_state (
    campaign_id  uuid PRIMARY KEY,
    version      int NOT NULL,
    next_at      timestamptz,
    computed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX schedule_state_due ON schedule_state (next_at) WHERE next_at IS NOT NULL;

-- scheduler: one row per (campaign, scheduled instant), never two.
CREATE TABLE occurrences (
    id           uuid PRIMARY KEY,
    campaign_id  uuid NOT NULL,
    scheduled_at timestamptz NOT NULL,
    status       text NOT NULL CHECK (status IN ('triggered', 'skipped')),
    reason       text,
    triggered_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (campaign_id, scheduled_at)
);
CREATE INDEX occurrences_campaign ON occurrences (campaign_id, scheduled_at);

-- notifier: which triggered occurrences were expanded into deliveries (the
-- reconciliation path looks for triggered occurrences without a row here).
CREATE TABLE fanouts (
    occurrence_id uuid PRIMARY KEY,
    deliveries    bigint NOT NULL,
    expanded_at   timestamptz NOT NULL DEFAULT now()
);

-- The audience query filters active contacts by channel, language, topics
-- and region.
CREATE INDEX contacts_audience ON contacts (channel, language, region) WHERE status = 'active';
CREATE INDEX deliveries_ref ON deliveries (ref_id, channel, status);
