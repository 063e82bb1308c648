//! The end-to-end tests, in one binary: the real `proctor`, real plugins,
//! real test suites and services. Every results directory a test reads is
//! held to the results layout's contract (`proctor_e2e::check_results`).

mod abi_compat;
mod collectors;
mod command;
mod config_errors;
mod downloads;
mod ending;
mod examples;
mod guide;
mod history;
mod install;
mod isolation;
mod output;
mod reports;
mod run;
mod supervision;
mod verdict;
