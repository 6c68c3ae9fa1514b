-- Each asset's holders (the Assets page's), as one list per asset instead of the index
-- app_grants_asset. A check writes grants in holder order (the platforms list them per
-- member), so that index took every insert of a first check to a random page: a first check
-- of a million grants ran three times as long as its fetch. A first check writes these lists
-- once, after its grants, a few thousand rows instead of a million index entries; later
-- checks add the grants they find new. Grant rows are never deleted but with their app, so
-- the lists name exactly the keys of app_grants; readers join back for the rest.
-- holders: a JSON array of the asset's holder keys ('member:…', 'partner:…').
CREATE TABLE app_asset_holders (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    asset_id TEXT NOT NULL,
    holders TEXT NOT NULL,
    PRIMARY KEY (app_id, asset_id)
);
INSERT INTO app_asset_holders (workspace_id, app_id, asset_id, holders)
    SELECT workspace_id, app_id, asset_id, json_agg(holder ORDER BY holder)::text FROM app_grants GROUP BY workspace_id, app_id, asset_id;
DROP INDEX app_grants_asset;
