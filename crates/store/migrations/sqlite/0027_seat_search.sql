-- What member search matches, in one column (computed when read: SQLite cannot add a stored
-- one to a table, and its searches were fast already).
ALTER TABLE app_seats ADD COLUMN search TEXT GENERATED ALWAYS AS (
    lower(COALESCE(email, '') || char(10) || COALESCE(username, '') || char(10) || COALESCE(display_name, ''))
) VIRTUAL;
