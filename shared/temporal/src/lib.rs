//! Temporal adapters (filled by the write-path work).
