-- Issue 19, item 8b: an emailed link either signs in or lifts the lock on
-- an account (sent when repeated failures lock it). Same table, same
-- sealing, same notifier path; `purpose` tells them apart.
ALTER TABLE console_sign_in_links
    ADD COLUMN purpose text NOT NULL DEFAULT 'sign_in' CHECK (purpose IN ('sign_in', 'unlock'));
