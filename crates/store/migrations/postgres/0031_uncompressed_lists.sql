-- The check's long values are stored without compression: each table's digests (1.7 MB of
-- hexadecimal sums for a million grants, which pglz tried to compress at every write and
-- then stored as they were) and each asset's holder list (2.2 KB of JSON on average for a
-- 100,000-member business: 22 MB in all, 8 MB compressed). Compressing them was a quarter of
-- a CPU-second at the end of a 100k-member first check, which waits for it (perf:
-- pglz_compress), and every Assets page decompressed its lists again.
ALTER TABLE app_digests ALTER COLUMN digests SET STORAGE EXTERNAL;
ALTER TABLE app_asset_holders ALTER COLUMN holders SET STORAGE EXTERNAL;
