-- OIDC sign-in: a workspace's identity provider (issuer, client, the e-mail domains it admits,
-- the claim carrying groups, whether passwords are kept for Owners only; the client secret is
-- a sealed vault secret owned by this row), and the IdP's subject an identity was linked to at
-- its first sign-in.
CREATE TABLE oidc_configs (
    workspace_id TEXT PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    issuer TEXT NOT NULL,
    client_id TEXT NOT NULL,
    allowed_domains TEXT NOT NULL DEFAULT '[]',
    groups_claim TEXT,
    passwords_owners_only BIGINT NOT NULL DEFAULT 0,
    enabled BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

ALTER TABLE identities ADD COLUMN oidc_subject TEXT;
CREATE UNIQUE INDEX identities_oidc_subject ON identities (workspace_id, oidc_subject);
