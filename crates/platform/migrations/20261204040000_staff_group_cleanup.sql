-- Issue 24, the staff group (`consultations.staff_group`). Owner: intake
-- (the notifier only reads `staff_group_state`).

-- A staff member who answered, noted or closed in the staff group: the
-- Telegram user id sealed under the row's own data key (associated data
-- `staff_identity:<id>:telegram_user`), found by its blind index (kind
-- `staff_telegram_user`). Audit rows name the row (`details.staff`),
-- never the Telegram id; deleting the row crypto-shreds it.
CREATE TABLE staff_identities (
    id       uuid PRIMARY KEY,
    user_bi  bytea NOT NULL UNIQUE,
    data_key bytea NOT NULL,
    user_ct  bytea NOT NULL
);

-- The group a conversation's topic was made in (the organisation's group,
-- never a person's chat), so that erasing it deletes the topic there even
-- after `consultations.staff_group` changed. NULL: made before this
-- column, in the configured group.
ALTER TABLE conversations ADD COLUMN staff_group_id bigint;

-- Forum topics of erased conversations still to delete from the staff
-- group (deleteForumTopic deletes the topic with every message copied
-- into it). Erasing a conversation (`/forget`, retention) adds its topic
-- here in the same transaction; a loop deletes it and the row, or counts
-- the attempt and tries again later. Nothing else is kept: no chat id, no
-- conversation, no person, no time of erasure: only the group and the
-- thread id, which mean nothing once the conversation is gone.
CREATE TABLE staff_group_cleanup (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- NULL: the configured group.
    group_id        bigint,
    thread_id       bigint NOT NULL,
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- Claimed by a clean-up pass until then (two intake replicas never
    -- delete one topic at the same time).
    locked_until    timestamptz
);
CREATE UNIQUE INDEX staff_group_cleanup_topic
    ON staff_group_cleanup (coalesce(group_id, 0), thread_id);
CREATE INDEX staff_group_cleanup_due ON staff_group_cleanup (next_attempt_at);

-- The last check of the staff group (getChat, getChatMember): a group
-- with a username is public (anyone can find it, join, read every
-- conversation and answer as the organisation), so nothing is copied
-- there, sent there or accepted from there while it is. One row.
CREATE TABLE staff_group_state (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    -- The group checked (the configured id: a change of configuration
    -- makes the row stale).
    group_id       bigint NOT NULL,
    -- getChat showed a username (or active usernames).
    public         boolean NOT NULL,
    -- The bot may delete messages there (needed to delete topics).
    can_delete     boolean NOT NULL,
    checked_at     timestamptz NOT NULL DEFAULT now()
);
