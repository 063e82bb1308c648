//! Plugins in processes of their own.
//!
//! A plugin the host does not trust runs in a plugin process: the host's
//! own program, started with the arguments of a [`PluginHostProgram`],
//! loads the same library with the same checks, creates the plugin, and
//! answers calls. The plugin's author changes nothing: the requests and
//! answers are the plugin API's JSON documents, framed (`wire.rs`) over the
//! process's stdin and stdout.
//!
//! What isolation buys: a plugin that segfaults, aborts or exits ends its
//! process, not the host, and the call it was making fails naming the
//! plugin, the call and how the process ended. A call that misses its
//! deadline gets its process killed. Either way the next call starts a new
//! process (a plugin's state does not survive its process), three times at
//! most. What it costs: a process start per plugin (about 4 ms), and per
//! call a round trip through two pipes with a wake-up at each end (64 to
//! 103 µs on a two-core virtual machine, against 3 µs in process).
//!
//! Calls run concurrently, as in process: each carries an id, and the
//! plugin process makes each on a pool thread, but for the frequent
//! `parse_output`, made on the thread reading the calls. In the host, a
//! caller waiting for its answer reads the answers, handing the others'
//! to their callers. A plugin process ends when the host
//! closes its stdin, drops it, or ends.

mod client;
mod server;
mod wire;

use std::ffi::OsString;
use std::path::PathBuf;

use proctor_plugin_api::messages::PluginKind;
use serde::{Deserialize, Serialize};

pub use client::describe_library;
pub(crate) use client::PluginProcess;
pub use server::serve;

/// The program a plugin process runs: the host's own binary and the
/// arguments that make it serve [`serve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginHostProgram {
    pub program: PathBuf,
    pub args: Vec<OsString>,
}

/// What the host asks of a new plugin process, first.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "order", rename_all = "snake_case")]
enum Order {
    /// Load the library, answer its [`crate::library::Description`] or
    /// its [`crate::Refusal`], and end.
    Describe { library: PathBuf },
    /// Load the library, create one of its plugins, and answer its calls.
    Create {
        library: PathBuf,
        kind: PluginKind,
        name: String,
        /// The plugin's settings block, as JSON text.
        settings: String,
    },
}

/// The error code of a refusal a plugin process sends, as JSON.
const REFUSED: u32 = 1003;
