-- What every change's plan reads of an app (store::members): how many live member seats it
-- has and which of them are business admins. Both were one scan of the app's seats (30 ms
-- of a 40 ms Remove user plan on PostgreSQL at 100,000 seats, 180 ms at p95 while another
-- app's first check wrote). Now the count reads the first index alone (it holds the
-- columns of its predicate, so SQLite need not read the seats either) and the admins the
-- second or third, which hold only admins. The plan's queries state each predicate exactly
-- as here, with the admin role of the app's platform (`domain::roles::admin_role`), so
-- both databases use them.
CREATE INDEX app_seats_members ON app_seats (app_id, kind, vanished_at)
    WHERE vanished_at IS NULL AND kind IN ('member', 'system_user');
CREATE INDEX app_seats_admins_pinterest ON app_seats (app_id, user_id)
    WHERE vanished_at IS NULL AND kind IN ('member', 'system_user') AND roles LIKE '%"BIZ\_ADMIN"%' ESCAPE '\';
CREATE INDEX app_seats_admins_tiktok ON app_seats (app_id, user_id)
    WHERE vanished_at IS NULL AND kind IN ('member', 'system_user') AND roles LIKE '%"ADMIN"%' ESCAPE '\';
