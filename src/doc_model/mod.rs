//! The YAOS document model as the server reads it (spec 12): the schema
//! version, the `documentSummary`, and the active-path rule that the debug
//! JSON, the migration's legacy merge and the snapshot index share. Used by
//! the room, the migration and the edge alike; it depends on nothing but yrs.

pub mod notes;
pub mod restore;
pub mod summary;
