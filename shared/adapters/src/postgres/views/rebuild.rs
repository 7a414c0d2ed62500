//! Placeholder, filled in by the rebuild step.
