-- Rotation of people's saved passwords, per app: 'after_reveal' (rotation_days after the last
-- reveal) or 'schedule' (every rotation_days since the password was set); NULL is off.
ALTER TABLE apps ADD COLUMN rotation_policy TEXT;
ALTER TABLE apps ADD COLUMN rotation_days BIGINT;
-- A card's history for its policy, and the scheduler's claim on a due rotation (cleared when
-- an Owner confirms the platform has the new password). The new password waits sealed in
-- vault_secrets as 'password_pending'; earlier ones stay sealed as 'password@<ms>'.
ALTER TABLE account_cards ADD COLUMN last_revealed_at BIGINT;
ALTER TABLE account_cards ADD COLUMN password_set_at BIGINT;
ALTER TABLE account_cards ADD COLUMN rotation_queued_at BIGINT;
