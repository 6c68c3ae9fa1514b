-- App integrations, what their checks imported, and the staging area a check fills before it
-- applies its result in one transaction.

CREATE TABLE apps (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    platform TEXT NOT NULL,
    label TEXT NOT NULL,
    label_canonical TEXT NOT NULL,
    business_id TEXT NOT NULL,
    login_method TEXT NOT NULL,
    automation_account_id TEXT NOT NULL REFERENCES automation_accounts(id),
    api_base_url TEXT,
    status TEXT NOT NULL,
    status_message TEXT,
    last_check_at BIGINT,
    next_check_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (workspace_id, label_canonical)
);

CREATE TABLE app_seats (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    username TEXT,
    email TEXT,
    display_name TEXT,
    roles TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    identity_id TEXT,
    match_source TEXT,
    first_seen_at BIGINT NOT NULL,
    vanished_at BIGINT,
    PRIMARY KEY (app_id, user_id)
);
CREATE INDEX app_seats_state ON app_seats (app_id, state);

CREATE TABLE app_assets (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    asset_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT,
    owner_id TEXT,
    first_seen_at BIGINT NOT NULL,
    vanished_at BIGINT,
    PRIMARY KEY (app_id, asset_id)
);

CREATE TABLE app_grants (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    holder TEXT NOT NULL,
    asset_id TEXT NOT NULL,
    permissions TEXT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    vanished_at BIGINT,
    PRIMARY KEY (app_id, holder, asset_id)
);

CREATE TABLE app_partners (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    partner_id TEXT NOT NULL,
    name TEXT,
    relation TEXT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    vanished_at BIGINT,
    PRIMARY KEY (app_id, partner_id)
);

CREATE TABLE staging_seats (
    app_id TEXT NOT NULL,
    check_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    username TEXT,
    email TEXT,
    display_name TEXT,
    roles TEXT NOT NULL,
    kind TEXT NOT NULL,
    PRIMARY KEY (check_id, user_id)
);
CREATE TABLE staging_assets (
    app_id TEXT NOT NULL,
    check_id TEXT NOT NULL,
    asset_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT,
    owner_id TEXT,
    PRIMARY KEY (check_id, asset_id)
);
CREATE TABLE staging_grants (
    app_id TEXT NOT NULL,
    check_id TEXT NOT NULL,
    holder TEXT NOT NULL,
    asset_id TEXT NOT NULL,
    permissions TEXT NOT NULL,
    PRIMARY KEY (check_id, holder, asset_id)
);
CREATE TABLE staging_partners (
    app_id TEXT NOT NULL,
    check_id TEXT NOT NULL,
    partner_id TEXT NOT NULL,
    name TEXT,
    relation TEXT NOT NULL,
    PRIMARY KEY (check_id, partner_id)
);

CREATE TABLE check_reports (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    task_id TEXT,
    created_at BIGINT NOT NULL,
    summary TEXT NOT NULL,
    changes TEXT NOT NULL
);
CREATE INDEX check_reports_app ON check_reports (app_id, id);
