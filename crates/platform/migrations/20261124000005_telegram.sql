-- Telegram: the bot's subscribers live in contacts (channel 'telegram'):
-- the chat id is sealed in address_ct under the row's data key and looked
-- up by blind_index (HMAC of the chat id, kind 'telegram'), like an email
-- address. Owners are listed in ARCHITECTURE.md.

-- intake: the code of the deep link (`t.me/<bot>?start=<code>`) a contact
-- came through, as Telegram allows it (1-64 of A-Z a-z 0-9 _ -): an opaque
-- campaign code, never personal data.
ALTER TABLE contacts ADD COLUMN start_param text
    CHECK (start_param ~ '^[A-Za-z0-9_-]{1,64}$');

-- intake: how far each bot's updates were processed. The update id is
-- recorded in the same transaction as the update's effects, so an update
-- seen again (getUpdates after a crash, a webhook retry, two pollers for a
-- moment) changes nothing twice.
CREATE TABLE telegram_bot_state (
    bot_id         text PRIMARY KEY,
    last_update_id bigint NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
