//! The stable ABI between the proctor host and its plugins.
//!
//! This is the only crate both sides compile against. It has two layers:
//!
//! - [`abi`]: the FFI-safe root module and one vtable per plugin kind, all
//!   `abi_stable` prefix types, so a minor version can append functions that
//!   an older plugin simply lacks.
//! - [`messages`]: the structured requests and responses those functions
//!   carry, as JSON. Message types only ever gain optional fields in 1.x, so a
//!   plugin built against 1.0 reads a 1.7 request and the host reads its
//!   answer.
//!
//! Plugin authors do not use this crate directly: `proctor-sdk` wraps it in
//! safe traits and one export macro. Nothing here requires a plugin's source
//! to name `abi_stable`.

#![warn(missing_docs)]

pub mod abi;
mod export;
pub mod messages;

/// The version of this API, as the host reports it and checks it.
pub const API_VERSION: &str = env!("CARGO_PKG_VERSION");

#[doc(hidden)]
pub mod __private {
    pub use abi_stable;
}
