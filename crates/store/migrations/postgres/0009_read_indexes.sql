-- The User Overview reads one tab's live seats in user-id order, and app cards count live
-- seats per state: one index serves both (the counts read the index alone).
DROP INDEX app_seats_state;
CREATE INDEX app_seats_tab ON app_seats (app_id, state, vanished_at, user_id);
-- An app's assets with their holders: the grants of a page of assets, without reading them all.
CREATE INDEX app_grants_asset ON app_grants (app_id, asset_id, holder);
