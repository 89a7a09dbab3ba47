-- notifier: bounces (RFC 3464 DSNs) and complaints (RFC 5965 ARF) that
-- arrive after a message left. The outcome is recorded on the delivery
-- ('bounced', 'complained'); the events keep only the delivery id, the
-- class, the status code and the recipient's blind index (for counting soft
-- bounces per address), never an address.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_status_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_status_check
    CHECK (status IN ('queued', 'sending', 'sent', 'retry', 'failed', 'skipped', 'unknown',
                      'bounced', 'complained'));

CREATE TABLE bounce_events (
    delivery_id  uuid NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('hard', 'soft', 'complaint')),
    status_code  text,
    channel      text,
    blind_index  bytea,
    received_at  timestamptz NOT NULL DEFAULT now(),
    -- A report delivered twice (the sender's retry after a lost 250)
    -- counts once.
    PRIMARY KEY (delivery_id, kind)
);
CREATE INDEX bounce_events_soft ON bounce_events (blind_index, received_at) WHERE kind = 'soft';
CREATE INDEX bounce_events_recent ON bounce_events (received_at);
