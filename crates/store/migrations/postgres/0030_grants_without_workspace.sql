-- Grants no longer carry their workspace: nothing read it (a grant is an app's, and its app
-- names the workspace), and its 36 characters were a fifth of the bytes of each of the
-- million rows a 100,000-member first check writes (COPY of 1M grant rows, interleaved
-- twice: 4.4 and 4.8 s without it, against 5.1 and 6.0 s with it). Dropping a column leaves
-- the rows already written as they are; new rows no longer store it.
ALTER TABLE app_grants DROP COLUMN workspace_id;
