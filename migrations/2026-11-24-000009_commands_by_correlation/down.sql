DROP INDEX IF EXISTS commands_correlation_idx;
