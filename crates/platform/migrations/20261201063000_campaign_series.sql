-- Issue 16: scheduled series ("content plan"). A campaign of kind `series`
-- carries a list of posts, each with its local date-time (in the
-- campaign's time zone), its channels (empty: the campaign's) and its own
-- templates: [{"at": "2026-12-05T10:00", "channels": [...], "templates": {...}}].
-- The scheduler fires each post's instant once, exactly as it fires the
-- instants of a `once` campaign; the notifier sends the post whose instant
-- is the occurrence's `scheduled_at`.
ALTER TABLE campaigns
    ADD COLUMN series jsonb NOT NULL DEFAULT '[]'::jsonb
        CHECK (jsonb_typeof(series) = 'array');
ALTER TABLE campaigns DROP CONSTRAINT campaigns_schedule_kind_check;
ALTER TABLE campaigns
    ADD CONSTRAINT campaigns_schedule_kind_check
        CHECK (schedule_kind IN ('cron', 'once', 'day', 'series'));
ALTER TABLE campaigns
    ADD CONSTRAINT campaigns_series_has_posts
        CHECK (schedule_kind <> 'series' OR jsonb_array_length(series) BETWEEN 1 AND 100);
