-- An account card shared with a person or a directory group, as Owner (shares, manages) or
-- Collaborator (only logs in). The card's own holder is its Owner without a row here.
CREATE TABLE account_shares (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    card_id TEXT NOT NULL REFERENCES account_cards(id) ON DELETE CASCADE,
    person_id TEXT REFERENCES people(id) ON DELETE CASCADE,
    group_id TEXT REFERENCES directory_groups(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    created_by TEXT,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX account_shares_person ON account_shares (card_id, person_id);
CREATE UNIQUE INDEX account_shares_group ON account_shares (card_id, group_id);
CREATE INDEX account_shares_to_person ON account_shares (person_id);
