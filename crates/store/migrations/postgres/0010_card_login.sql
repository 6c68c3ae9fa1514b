-- When a person connected their own account to its card (their login, password and TOTP secret
-- are sealed in vault_secrets under owner_kind 'card', one per field).
ALTER TABLE account_cards ADD COLUMN connected_at BIGINT;
