-- "Forget me" links for appellants and signers, the onion flag, and the
-- proof-of-work challenges already spent.

-- intake: the appellant's "forget me" link erases the appeal's contact.
-- The token is stored as a keyed hash (look-up) and sealed under the
-- appeal's data key (so the notifier can put it in the link); both go
-- with the contact.
ALTER TABLE appeals
    ADD COLUMN forget_token_hash bytea UNIQUE,
    ADD COLUMN forget_token_ct   bytea,
    -- The appeal came through the onion address: links in the messages
    -- answering it use `http.onion_url`.
    ADD COLUMN via_onion         boolean NOT NULL DEFAULT false;

-- intake: the signer's "forget me" link erases the signature's data.
ALTER TABLE letter_signatures
    ADD COLUMN forget_token_hash bytea UNIQUE,
    ADD COLUMN forget_token_ct   bytea,
    ADD COLUMN via_onion         boolean NOT NULL DEFAULT false;

-- intake: the subscription request came through the onion address.
ALTER TABLE contacts
    ADD COLUMN via_onion boolean NOT NULL DEFAULT false;

-- intake: proof-of-work challenges already used (single use). A row
-- outlives its challenge's expiry only until the janitor passes.
CREATE TABLE pow_spent (
    challenge_hash bytea PRIMARY KEY,
    expires_at     timestamptz NOT NULL
);
CREATE INDEX pow_spent_expires ON pow_spent (expires_at);
