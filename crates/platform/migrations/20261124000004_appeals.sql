-- Appeals (intake): what patients report, sealed under a per-appeal data
-- key; the OST sites organisers keep; counts that outlive erased appeals.
-- The notifier reads appeals to acknowledge them and alert staff, and
-- writes only its deliveries ledger.

-- intake: OST (opioid substitution therapy) sites the organisers keep.
-- Sites are deactivated, never deleted, so old appeals keep their code.
CREATE TABLE sites (
    code        text PRIMARY KEY CHECK (code ~ '^[a-z0-9_]{1,40}$'),
    region_code text NOT NULL,
    city_code   text NOT NULL,
    name_ru     text NOT NULL,
    name_kk     text NOT NULL,
    name_en     text NOT NULL,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- intake: one row per appeal. The text, the contact and the forwarding
-- target are sealed under the row's own data key (wrapped by the master
-- key); the access code is kept only as a keyed hash. No IP address, no
-- name. Deleting the row is crypto-shredding; appeal_counts keeps the
-- statistics.
CREATE TABLE appeals (
    id                 uuid PRIMARY KEY,
    -- KZ-XXXX-XXXX from an unambiguous alphabet, random: not enumerable.
    case_number        text NOT NULL UNIQUE,
    access_hash        bytea NOT NULL,
    status             text NOT NULL DEFAULT 'new'
                       CHECK (status IN ('new', 'triaged', 'forwarded', 'resolved', 'closed')),
    category           text NOT NULL
                       CHECK (category IN ('hospital_no_ost', 'take_home_refused', 'supply_interruption',
                                           'police', 'discrimination', 'hiv_hepatitis_tb', 'other')),
    region             text NOT NULL,
    city               text NOT NULL,
    site               text REFERENCES sites (code),
    -- The language the appellant wrote in: acknowledgements use it.
    language           text NOT NULL CHECK (language IN ('ru', 'kk', 'en')),
    consent_to_forward boolean NOT NULL DEFAULT false,
    data_key           bytea NOT NULL,
    text_ct            bytea NOT NULL,
    contact_channel    text CHECK (contact_channel IN ('email', 'telegram')),
    contact_ct         bytea,
    -- Keyed hash of the normalised contact: shows repeat writers, not who.
    contact_bi         bytea,
    -- The admin token the case is assigned to.
    assigned_to        uuid,
    -- Changes with every status change: the ledger reference of the
    -- status message, so a superseded message is skipped.
    status_nonce       uuid NOT NULL,
    status_changed_at  timestamptz NOT NULL DEFAULT now(),
    forward_ct         bytea,
    forwarded_at       timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    closed_at          timestamptz,
    CHECK ((contact_channel IS NULL) = (contact_ct IS NULL)
           AND (contact_ct IS NULL) = (contact_bi IS NULL)),
    CHECK ((status = 'closed') = (closed_at IS NOT NULL)),
    CHECK (status <> 'forwarded' OR consent_to_forward)
);
CREATE INDEX appeals_created ON appeals (created_at);
CREATE INDEX appeals_status ON appeals (status, created_at);
CREATE INDEX appeals_contact ON appeals (contact_bi) WHERE contact_bi IS NOT NULL;
CREATE INDEX appeals_closed ON appeals (closed_at) WHERE status = 'closed';

-- intake: what the appellant added later ('addition') and caseworkers'
-- internal notes ('internal'), sealed under the appeal's data key. They go
-- with the appeal.
CREATE TABLE appeal_notes (
    id         uuid PRIMARY KEY,
    appeal_id  uuid NOT NULL REFERENCES appeals (id) ON DELETE CASCADE,
    kind       text NOT NULL CHECK (kind IN ('addition', 'internal')),
    -- 'appellant' or the admin token (`token:<id>`), never a name.
    author     text NOT NULL,
    body_ct    bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX appeal_notes_appeal ON appeal_notes (appeal_id, created_at);

-- intake: counts of erased appeals, so statistics survive retention.
-- `site` is '' when none was named.
CREATE TABLE appeal_counts (
    month    date NOT NULL,
    region   text NOT NULL,
    city     text NOT NULL,
    site     text NOT NULL DEFAULT '',
    category text NOT NULL,
    n        integer NOT NULL CHECK (n > 0),
    PRIMARY KEY (month, region, city, site, category)
);
