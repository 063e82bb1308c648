//! proctor: a test-run host. The binary is a thin CLI over this library:
//! [`config`] reads the run, [`plugins`] loads and calls plugins, [`fetch`]
//! downloads the payloads, [`run`] discovers, schedules and supervises,
//! [`report`] writes what remains.

pub mod cli;
pub mod collect;
pub mod config;
pub mod error;
pub mod events;
pub mod fetch;
pub mod matching;
pub mod plugins;
pub mod process;
pub mod report;
pub mod results;
pub mod retry;
pub mod run;
pub mod select;
