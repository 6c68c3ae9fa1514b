-- The Assets page's totals without a lookup per holder. An asset's live holders are its list
-- (app_asset_holders) less its vanished grants; looking each listed key up to see whether it
-- was live took 5,000 index probes a page (30 of its 45 ms on PostgreSQL). Vanished grants
-- are few (a first check writes none), so this index is small and costs live rows nothing.
CREATE INDEX app_grants_vanished ON app_grants (app_id, asset_id, holder) WHERE vanished_at IS NOT NULL;
-- Disconnecting a partner deleted its users' grants but left their keys in the lists; it now
-- takes them out (store::partner_users). Lists written before that lose such keys here, so
-- every list names exactly the keys of app_grants again.
UPDATE app_asset_holders h SET holders = COALESCE((
    SELECT json_agg(k.value ORDER BY k.ord)::text
    FROM json_array_elements_text(h.holders::json) WITH ORDINALITY AS k(value, ord)
    WHERE EXISTS (SELECT 1 FROM app_grants g WHERE g.app_id = h.app_id AND g.holder = k.value AND g.asset_id = h.asset_id)
), '[]')
WHERE EXISTS (
    SELECT 1 FROM json_array_elements_text(h.holders::json) AS k(value)
    WHERE NOT EXISTS (SELECT 1 FROM app_grants g WHERE g.app_id = h.app_id AND g.holder = k.value AND g.asset_id = h.asset_id)
);
