//! The user's own directories, where the XDG base directory rules put them.

use std::path::{Path, PathBuf};

/// The directory `$variable` names when set and not empty, else
/// `$HOME/under_home`; none without either.
pub fn user_dir(variable: &str, under_home: &str) -> Option<PathBuf> {
    std::env::var_os(variable)
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(under_home)))
}
