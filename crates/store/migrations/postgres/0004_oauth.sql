-- OAuth: a workspace's platform app (client id and URLs; the secret is in vault_secrets) and
-- the one-time states of authorizations in progress.

CREATE TABLE platform_apps (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    platform TEXT NOT NULL,
    client_id TEXT NOT NULL,
    authorize_url TEXT NOT NULL,
    token_url TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, platform)
);

CREATE TABLE oauth_states (
    state_hash TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    automation_account_id TEXT NOT NULL REFERENCES automation_accounts(id) ON DELETE CASCADE,
    platform TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    created_by TEXT,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
