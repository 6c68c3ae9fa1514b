-- Grants no longer carry their workspace: nothing read it (a grant is an app's, and its app
-- names the workspace), and its 36 characters were a fifth of the bytes of each of the
-- million rows a 100,000-member first check writes. SQLite rewrites the table once to drop
-- it (no index, key or constraint names the column since migration 0030).
ALTER TABLE app_grants DROP COLUMN workspace_id;
