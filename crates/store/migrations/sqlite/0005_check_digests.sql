-- Checks for updates compare per-bucket digests of what they fetch with those of what is held
-- (app_digests), diff only the buckets that differ, and no longer stage every fetched row.
DROP TABLE staging_seats;
DROP TABLE staging_assets;
DROP TABLE staging_grants;
DROP TABLE staging_partners;

-- bucket: from the hash of the row's key (the domain's snapshot module); rows written
-- before this migration carry 0 and are re-bucketed by the next check.
-- last_seen_at: the last check that saw a vanished row (a live row was seen by the app's
-- last check).
ALTER TABLE app_seats ADD COLUMN bucket BIGINT NOT NULL DEFAULT 0;
ALTER TABLE app_seats ADD COLUMN last_seen_at BIGINT;
ALTER TABLE app_assets ADD COLUMN bucket BIGINT NOT NULL DEFAULT 0;
ALTER TABLE app_assets ADD COLUMN last_seen_at BIGINT;
-- Grants are the largest table (members × assets): on SQLite keep them in their primary-key
-- B-tree alone (WITHOUT ROWID), which halves the work of writing a business's grants.
CREATE TABLE app_grants_v2 (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    holder TEXT NOT NULL,
    asset_id TEXT NOT NULL,
    permissions TEXT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    vanished_at BIGINT,
    bucket BIGINT NOT NULL DEFAULT 0,
    last_seen_at BIGINT,
    PRIMARY KEY (app_id, holder, asset_id)
) WITHOUT ROWID;
INSERT INTO app_grants_v2 (workspace_id, app_id, holder, asset_id, permissions, first_seen_at, vanished_at)
    SELECT workspace_id, app_id, holder, asset_id, permissions, first_seen_at, vanished_at FROM app_grants;
DROP TABLE app_grants;
ALTER TABLE app_grants_v2 RENAME TO app_grants;
ALTER TABLE app_partners ADD COLUMN bucket BIGINT NOT NULL DEFAULT 0;
ALTER TABLE app_partners ADD COLUMN last_seen_at BIGINT;

CREATE TABLE app_digests (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    tbl TEXT NOT NULL,
    digests TEXT NOT NULL,
    PRIMARY KEY (app_id, tbl)
);

-- The task that holds the app (a check or a change on the platform); the app is free again
-- once that task is no longer running under a live lease.
ALTER TABLE apps ADD COLUMN busy_task TEXT;
-- The directory version the app's seats were last matched against.
ALTER TABLE apps ADD COLUMN matched_version BIGINT;
-- Bumped by every change to identities or to the matching settings.
ALTER TABLE workspaces ADD COLUMN directory_version BIGINT NOT NULL DEFAULT 0;
