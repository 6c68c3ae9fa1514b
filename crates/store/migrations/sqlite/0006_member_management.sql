-- Member management: exemptions and removals of seats, people's access to apps (their account
-- cards), the automation account's platform user, deprovisioning reports, and the outbox.

ALTER TABLE app_seats ADD COLUMN exempt_reason TEXT;
ALTER TABLE app_seats ADD COLUMN exempt_by TEXT;
ALTER TABLE app_seats ADD COLUMN exempt_at BIGINT;
ALTER TABLE app_seats ADD COLUMN exempt_until BIGINT;
-- Set when Castellan removed the seat and the platform confirmed it.
ALTER TABLE app_seats ADD COLUMN removed_at BIGINT;

-- The platform user the automation account acts as (from the connectivity check).
ALTER TABLE apps ADD COLUMN automation_user_id TEXT;

-- A matched person's own login to an app: Owner (shares access, manages configuration) or
-- Collaborator (only logs in).
ALTER TABLE account_cards ADD COLUMN app_id TEXT REFERENCES apps(id) ON DELETE CASCADE;
ALTER TABLE account_cards ADD COLUMN identity_id TEXT REFERENCES identities(id) ON DELETE CASCADE;
ALTER TABLE account_cards ADD COLUMN app_role TEXT;
CREATE UNIQUE INDEX account_cards_app_identity ON account_cards (app_id, identity_id);

-- Seats of deactivated people a check found; the report is open until applied or dismissed.
ALTER TABLE check_reports ADD COLUMN pending_removal TEXT NOT NULL DEFAULT '[]';
-- none | open | applying | applied | partially_applied | dismissed
ALTER TABLE check_reports ADD COLUMN status TEXT NOT NULL DEFAULT 'none';
-- Per-seat outcomes of applying it, or the dismissal (reason, who, when).
ALTER TABLE check_reports ADD COLUMN resolution TEXT;
ALTER TABLE check_reports ADD COLUMN apply_task TEXT;

-- Every e-mail Castellan writes; sent by SMTP when it is configured, otherwise kept here.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    recipients TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    related TEXT,
    -- kept (no SMTP configured) | pending | sent | failed
    status TEXT NOT NULL,
    error TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX outbox_workspace ON outbox (workspace_id, id);
