-- IdP groups that manage app members: a directory group mapped to an app with an app role,
-- a business role and assets; and what the mappings gave each person on each app (so only
-- that is taken back when they leave: a role raised from `prior_role`, or a seat they invited).
CREATE TABLE group_mappings (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    group_id TEXT NOT NULL REFERENCES directory_groups(id) ON DELETE CASCADE,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    app_role TEXT NOT NULL,
    business_role TEXT NOT NULL,
    assets TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    UNIQUE (group_id, app_id)
);
CREATE INDEX group_mappings_app ON group_mappings (app_id);

CREATE TABLE group_grants (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    identity_id TEXT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    business_role TEXT NOT NULL,
    prior_role TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, identity_id)
);
