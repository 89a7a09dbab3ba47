-- Anti-abuse limits (shared::limits): one row per budget, a GCRA's
-- "theoretical arrival time". A budget of N per period P spends P/N per
-- request; a request is refused when that would push `tat` more than P into
-- the future. The key is an HMAC (under the blind-index key) of the purpose
-- and the subject (a client address, an address's blind index, or a global
-- name): no address is stored. A row whose `tat` is past is the same as no
-- row, and the janitor deletes it. Written by intake (per-client and
-- per-address limits) and the notifier (the global confirmation-email
-- budget, key `global:confirmation_emails`): each writes only its own keys.
CREATE TABLE rate_limits (
    key bytea PRIMARY KEY,
    tat timestamptz NOT NULL
);
CREATE INDEX rate_limits_tat ON rate_limits (tat);
