-- An unmatched seat invited as a guest user: once the guest has joined, the seat is theirs (a
-- partner's user, not an employee); revoking the guest lists it for removal.
CREATE TABLE seat_guests (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    person_id TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (app_id, user_id)
);
CREATE INDEX seat_guests_person ON seat_guests (person_id);
