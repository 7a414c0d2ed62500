-- Snapshots carry the version of their state's shape (the aggregate's
-- STATE_VERSION when written). Snapshots written before this column existed
-- are of shape 1; a reader whose aggregate is at a newer shape rebuilds the
-- state from events (and the worker rewrites the snapshot), so no data
-- migration of snapshots is ever needed.
ALTER TABLE aggregates
    ADD COLUMN IF NOT EXISTS schema_version integer NOT NULL DEFAULT 1,
    ADD CONSTRAINT aggregates_schema_version_check CHECK (schema_version >= 1);
