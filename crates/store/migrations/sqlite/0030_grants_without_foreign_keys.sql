-- A first check writes a business's grants in bulk (a million rows at 100,000 members), and
-- SQLite checked both foreign keys of every row (a lookup each in workspaces and apps) and,
-- because such a check may abort a statement halfway, kept a statement journal of every page
-- the insert touched. PostgreSQL dropped these keys in its 0028 for the same reason. Grants are
-- written only by the checks and changes of an app, which hold it (so it exists), and are
-- deleted with the app in the same transaction (store::apps, delete_app); workspaces are never
-- deleted. SQLite cannot drop a constraint, so the table is rebuilt as it was, without them.
CREATE TABLE app_grants_new (
    workspace_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    holder TEXT NOT NULL,
    asset_id TEXT NOT NULL,
    permissions TEXT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    vanished_at BIGINT,
    bucket BIGINT NOT NULL DEFAULT 0,
    last_seen_at BIGINT,
    PRIMARY KEY (app_id, holder, asset_id)
) WITHOUT ROWID;
INSERT INTO app_grants_new (workspace_id, app_id, holder, asset_id, permissions, first_seen_at, vanished_at, bucket, last_seen_at)
    SELECT workspace_id, app_id, holder, asset_id, permissions, first_seen_at, vanished_at, bucket, last_seen_at FROM app_grants;
DROP TABLE app_grants;
ALTER TABLE app_grants_new RENAME TO app_grants;
CREATE INDEX app_grants_partners ON app_grants (app_id, holder, asset_id) WHERE holder LIKE 'partner:%';
CREATE INDEX app_grants_vanished ON app_grants (app_id, asset_id, holder) WHERE vanished_at IS NOT NULL;
