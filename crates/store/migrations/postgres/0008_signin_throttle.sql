-- Failed sign-ins, kept in the database so that the throttle holds across every process
-- sharing it. The key is a hash of the canonical e-mail; rows older than the window are pruned.
CREATE TABLE signin_failures (
    key_hash TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX signin_failures_key ON signin_failures (key_hash, at);
