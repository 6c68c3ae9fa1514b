-- An account card shared with a local partner as a whole: every guest of the partner holds it.
ALTER TABLE account_shares ADD COLUMN partner_id TEXT;
