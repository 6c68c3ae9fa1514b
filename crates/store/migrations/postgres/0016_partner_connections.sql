-- A native partner connected to Castellan: the automation account (the monitor account, or
-- the token from the partner's consent page) that reads the partner's business, and whether
-- it still does.
CREATE TABLE partner_connections (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    partner_id TEXT NOT NULL,
    automation_account_id TEXT NOT NULL REFERENCES automation_accounts(id),
    -- connected | error
    status TEXT NOT NULL,
    status_message TEXT,
    connected_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, partner_id)
);
