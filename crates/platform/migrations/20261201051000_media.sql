-- Issue 16, first part: the media library and the registry of Telegram
-- channels and groups campaigns may post to.

-- One row per distinct file (by the SHA-256 of the stored, metadata-free
-- bytes). The bytes live here, in a bytea column stored out of line and
-- uncompressed (images and videos are compressed already): transactional
-- with their metadata, in every backup, no folder to share between hosts.
CREATE TABLE media (
    id uuid PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('image', 'animation', 'video', 'document')),
    mime text NOT NULL CHECK (mime IN ('image/jpeg', 'image/png', 'image/webp', 'image/gif',
                                       'video/mp4', 'application/pdf')),
    bytes bigint NOT NULL CHECK (bytes > 0),
    sha256 text NOT NULL UNIQUE CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content bytea NOT NULL,
    alt_ru text NOT NULL DEFAULT '' CHECK (char_length(alt_ru) <= 1000),
    alt_kk text NOT NULL DEFAULT '' CHECK (char_length(alt_kk) <= 1000),
    alt_en text NOT NULL DEFAULT '' CHECK (char_length(alt_en) <= 1000),
    -- `token:<id>` or `user:<id>`, as in the audit log.
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE media ALTER COLUMN content SET STORAGE EXTERNAL;
CREATE INDEX media_created_at ON media (created_at DESC);

-- Telegram's file_id of a file once a bot uploaded it, per bot (file ids
-- are per bot), so later sends reuse it instead of uploading again.
-- Written by the notifier when it sends (issue 16, second part).
CREATE TABLE media_telegram_files (
    media_id uuid NOT NULL REFERENCES media (id) ON DELETE CASCADE,
    bot_id text NOT NULL,
    file_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (media_id, bot_id)
);

-- Channels and groups the bot administers: `@name` or a numeric id (never
-- a private chat), the title organisers know it by, the language of its
-- posts.
CREATE TABLE telegram_channels (
    id uuid PRIMARY KEY,
    chat text NOT NULL CHECK (chat ~ '^(@[A-Za-z][A-Za-z0-9_]{4,31}|-[0-9]{1,19})$'),
    title text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 128),
    language text NOT NULL CHECK (language IN ('ru', 'kk', 'en')),
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- Usernames are case-insensitive in Telegram.
CREATE UNIQUE INDEX telegram_channels_chat ON telegram_channels (lower(chat));
