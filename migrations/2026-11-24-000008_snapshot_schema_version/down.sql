ALTER TABLE aggregates DROP CONSTRAINT IF EXISTS aggregates_schema_version_check;
ALTER TABLE aggregates DROP COLUMN IF EXISTS schema_version;
