-- SCIM: bearer tokens an identity provider provisions a workspace's directory with (stored
-- hashed, named, revocable, last use recorded), and the identities an IdP deleted (kept,
-- deactivated, for the audit trail and the seats matched to them; SCIM no longer serves them),
-- and the e-mail entries as the IdP sent them.
CREATE TABLE scim_tokens (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX scim_tokens_workspace ON scim_tokens (workspace_id);

ALTER TABLE identities ADD COLUMN scim_deleted_at BIGINT;
-- The e-mail entries as the IdP sent them (type, primary), so SCIM gives them back as they were.
ALTER TABLE identities ADD COLUMN scim_emails TEXT;

-- A person's groups are read with every SCIM User (and every directory page).
CREATE INDEX group_members_identity ON group_members (identity_id);
