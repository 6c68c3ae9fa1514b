-- Partners' grants (holder 'partner:…') are a few hundred among a million members' grants,
-- and several pages list them (the Partners tab, partner names on Reports). A LIKE prefix
-- cannot use the primary key under every collation (PostgreSQL's C.UTF-8 reads all 1M
-- grants: 240 ms); this small partial index holds just them.
CREATE INDEX app_grants_partners ON app_grants (app_id, holder, asset_id) WHERE holder LIKE 'partner:%';
