-- Each app's seat count per User Overview tab, kept by triggers, so App details pages do not
-- count 100,000 seats on every view. A seat's tab: its state while live, 'removed' once
-- vanished after Castellan removed it, none otherwise. No foreign key: the counters of an app
-- being removed are deleted with it, after its seats.
CREATE TABLE app_seat_counts (
    app_id TEXT NOT NULL,
    tab TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (app_id, tab)
) WITHOUT ROWID;

INSERT INTO app_seat_counts (app_id, tab, n)
    SELECT app_id, tab, COUNT(*) FROM (
        SELECT app_id, CASE WHEN vanished_at IS NULL THEN state WHEN removed_at IS NOT NULL THEN 'removed' END AS tab FROM app_seats
    ) t WHERE tab IS NOT NULL GROUP BY app_id, tab;

CREATE TRIGGER app_seat_counts_insert AFTER INSERT ON app_seats
WHEN NEW.vanished_at IS NULL OR NEW.removed_at IS NOT NULL
BEGIN
    INSERT INTO app_seat_counts (app_id, tab, n)
        SELECT NEW.app_id, CASE WHEN NEW.vanished_at IS NULL THEN NEW.state ELSE 'removed' END, 1 WHERE true
        ON CONFLICT (app_id, tab) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER app_seat_counts_delete AFTER DELETE ON app_seats
WHEN OLD.vanished_at IS NULL OR OLD.removed_at IS NOT NULL
BEGIN
    UPDATE app_seat_counts SET n = n - 1
        WHERE app_id = OLD.app_id AND tab = CASE WHEN OLD.vanished_at IS NULL THEN OLD.state ELSE 'removed' END;
END;

CREATE TRIGGER app_seat_counts_update AFTER UPDATE OF state, vanished_at, removed_at ON app_seats
WHEN (CASE WHEN OLD.vanished_at IS NULL THEN OLD.state WHEN OLD.removed_at IS NOT NULL THEN 'removed' END)
    IS NOT (CASE WHEN NEW.vanished_at IS NULL THEN NEW.state WHEN NEW.removed_at IS NOT NULL THEN 'removed' END)
BEGIN
    UPDATE app_seat_counts SET n = n - 1
        WHERE app_id = OLD.app_id
        AND tab = CASE WHEN OLD.vanished_at IS NULL THEN OLD.state WHEN OLD.removed_at IS NOT NULL THEN 'removed' END;
    INSERT INTO app_seat_counts (app_id, tab, n)
        SELECT NEW.app_id, CASE WHEN NEW.vanished_at IS NULL THEN NEW.state ELSE 'removed' END, 1
        WHERE NEW.vanished_at IS NULL OR NEW.removed_at IS NOT NULL
        ON CONFLICT (app_id, tab) DO UPDATE SET n = n + 1;
END;
