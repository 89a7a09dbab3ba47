-- Issue 24: junk conversations never page staff more often than
-- consultations.alert_after_minutes allows. An alert is paged (its ledger
-- rows queued) only when no page went out within that window; otherwise it
-- is held, and the next page is one digest of everything held.
ALTER TABLE conversation_alerts ALTER COLUMN conversation_id DROP NOT NULL;
ALTER TABLE conversation_alerts DROP CONSTRAINT conversation_alerts_reason_check;
ALTER TABLE conversation_alerts ADD CONSTRAINT conversation_alerts_reason_check
    CHECK (reason IN ('new', 'waiting', 'referral', 'digest'));
-- When its deliveries were queued (NULL: held for the next digest).
ALTER TABLE conversation_alerts ADD COLUMN paged_at timestamptz;
-- A digest: how many conversations it stands for.
ALTER TABLE conversation_alerts ADD COLUMN conversations integer;
ALTER TABLE conversation_alerts ADD CONSTRAINT conversation_alerts_digest_check
    CHECK ((reason = 'digest') = (conversation_id IS NULL));
UPDATE conversation_alerts SET paged_at = created_at;
CREATE INDEX conversation_alerts_held ON conversation_alerts (created_at) WHERE paged_at IS NULL;
CREATE INDEX conversation_alerts_paged ON conversation_alerts (paged_at) WHERE reason <> 'referral';
