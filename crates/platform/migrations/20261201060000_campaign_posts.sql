-- Issue 16, second part: several channels per campaign and what was
-- posted where, so a post can be edited, deleted, pinned and linked.
--
-- A campaign's channel post to a registered channel is a ledger row of
-- kind `campaign`, channel `telegram_channel`, contact_id = the
-- telegram_channels row's id (the configured `telegram.channel` keeps the
-- nil id). One row here per post the notifier made (per delivery).
CREATE TABLE campaign_posts (
    id             uuid PRIMARY KEY,
    delivery_id    uuid NOT NULL UNIQUE,
    campaign_id    uuid NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    occurrence_id  uuid NOT NULL,
    -- The registry row, or NULL for the configured telegram.channel.
    channel_id     uuid REFERENCES telegram_channels (id) ON DELETE SET NULL,
    -- `@name` or the numeric id, as sent to.
    chat           text NOT NULL,
    -- Every message of the post, in order (an album is several; a text
    -- longer than a caption is media + text messages).
    message_ids    bigint[] NOT NULL,
    -- The message that carries the text (edited with editMessageText when
    -- text_is_caption is false, editMessageCaption when true).
    text_message_id bigint NOT NULL,
    text_is_caption boolean NOT NULL DEFAULT false,
    -- `poll` for a native poll (issue 17), else `text` or `media`.
    kind           text NOT NULL DEFAULT 'text' CHECK (kind IN ('text', 'media', 'poll')),
    state          text NOT NULL DEFAULT 'posted' CHECK (state IN ('posted', 'deleted')),
    pinned         boolean NOT NULL DEFAULT false,
    posted_at      timestamptz NOT NULL DEFAULT now(),
    edited_at      timestamptz,
    deleted_at     timestamptz
);
CREATE INDEX campaign_posts_campaign ON campaign_posts (campaign_id, posted_at DESC);
