-- Issue 25: the front-door service is called `front` (it was `intake`).
-- Its outbox and inbox take the service's name; their rows, sequences and
-- indexes stay as they are. Durable NATS consumer names
-- ("intake-contact-blocked", "intake-contact-complained") are kept:
-- renaming a durable would start a fresh consumer (see ARCHITECTURE.md).
ALTER TABLE intake_outbox RENAME TO front_outbox;
ALTER TABLE front_outbox RENAME CONSTRAINT intake_outbox_pkey TO front_outbox_pkey;
ALTER TABLE front_outbox RENAME CONSTRAINT intake_outbox_id_key TO front_outbox_id_key;
ALTER INDEX intake_outbox_unpublished RENAME TO front_outbox_unpublished;
ALTER SEQUENCE intake_outbox_seq_seq RENAME TO front_outbox_seq_seq;

ALTER TABLE intake_inbox RENAME TO front_inbox;
ALTER TABLE front_inbox RENAME CONSTRAINT intake_inbox_pkey TO front_inbox_pkey;
