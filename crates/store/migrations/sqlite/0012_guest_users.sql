-- Guest users: people with the workspace role Guest, invited by e-mail with a single-use
-- sign-in link. Only the link token's hash is kept here; the e-mail that carries it holds the
-- link sealed in vault_secrets (owner_kind 'email'), and its stored body says so.
CREATE TABLE guest_invites (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    person_id TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    email_id TEXT,
    created_by TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX guest_invites_person ON guest_invites (person_id);
