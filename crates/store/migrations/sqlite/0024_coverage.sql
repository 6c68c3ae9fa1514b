-- The coverage window (see `castellan_domain::coverage`): a check may keep an asset's holders,
-- or a partner's shared assets, as an earlier check read them. NULL: read by the app's last
-- check; otherwise when the kept list was last read (ms since the epoch).
ALTER TABLE app_assets ADD COLUMN holders_as_of BIGINT;
ALTER TABLE app_partners ADD COLUMN shares_as_of BIGINT;
