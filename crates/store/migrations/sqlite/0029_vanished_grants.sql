-- The Assets page's totals without a lookup per holder. An asset's live holders are its list
-- (app_asset_holders) less its vanished grants; looking each listed key up to see whether it
-- was live took 5,000 index probes a page. Vanished grants are few (a first check writes
-- none), so this index is small and costs live rows nothing.
CREATE INDEX app_grants_vanished ON app_grants (app_id, asset_id, holder) WHERE vanished_at IS NOT NULL;
-- Disconnecting a partner deleted its users' grants but left their keys in the lists; it now
-- takes them out (store::partner_users). Lists written before that lose such keys here, so
-- every list names exactly the keys of app_grants again.
UPDATE app_asset_holders SET holders = (
    SELECT json_group_array(k.value ORDER BY k.key) FROM json_each(app_asset_holders.holders) AS k
    WHERE EXISTS (SELECT 1 FROM app_grants g WHERE g.app_id = app_asset_holders.app_id AND g.holder = k.value AND g.asset_id = app_asset_holders.asset_id)
)
WHERE json_valid(holders) AND EXISTS (
    SELECT 1 FROM json_each(app_asset_holders.holders) AS k
    WHERE NOT EXISTS (SELECT 1 FROM app_grants g WHERE g.app_id = app_asset_holders.app_id AND g.holder = k.value AND g.asset_id = app_asset_holders.asset_id)
);
