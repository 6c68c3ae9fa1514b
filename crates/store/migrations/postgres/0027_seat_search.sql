-- What member search matches, lower-cased once when a seat is written instead of on every
-- search: a search matching few of 100,000 seats reads them all (72 ms lower-casing them).
ALTER TABLE app_seats ADD COLUMN search TEXT GENERATED ALWAYS AS (
    lower(COALESCE(email, '') || chr(10) || COALESCE(username, '') || chr(10) || COALESCE(display_name, ''))
) STORED;
