-- Partner users' seats get their own state name, distinct from the workspace role Guest.
UPDATE app_seats SET state = 'partner_user' WHERE state = 'guest';
