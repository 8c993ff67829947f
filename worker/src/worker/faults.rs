//! What the worker says of its own faults, in the words the page shows:
//! the engine and the member workers say the same.

/// A weight file's bytes came before it was opened (a fault here, not in the file).
pub const NOT_OPEN: &str = "weight bytes arrived before their file was opened";

/// Told when heat maps are asked of an analysis that a newer one replaced.
pub const NOT_CURRENT: &str = "that analysis is no longer current";
