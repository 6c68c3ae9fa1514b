-- Local partners: organizations of guest users inside the workspace, their people with a role
-- each (host_admin: a person of the workspace who manages the partnership; guest_admin and
-- guest_user: the partner's own people), and the native partners (of an app) that are the
-- same organization.
CREATE TABLE local_partners (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_canonical TEXT NOT NULL,
    domains TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    ended_at BIGINT,
    UNIQUE (workspace_id, name_canonical)
);

CREATE TABLE local_partner_people (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    partner_id TEXT NOT NULL REFERENCES local_partners(id) ON DELETE CASCADE,
    person_id TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (partner_id, person_id)
);
CREATE INDEX local_partner_people_person ON local_partner_people (person_id);

CREATE TABLE native_partner_links (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    partner_id TEXT NOT NULL,
    local_partner_id TEXT NOT NULL REFERENCES local_partners(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, partner_id)
);
