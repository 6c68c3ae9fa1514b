-- A consent started to connect a native partner (TikTok's Grant access, or a Pinterest monitor
-- account that holds no token yet): once the platform sends the token back, that partner of
-- that app is connected through the account.
ALTER TABLE oauth_states ADD COLUMN partner_app_id TEXT;
ALTER TABLE oauth_states ADD COLUMN partner_id TEXT;
