//! How plugins run: in the host's process or in one of their own, and how
//! long each of their calls may take.

use std::collections::BTreeMap;

use proctor_loader::{Deadlines, Operation};
use serde::Deserialize;

use super::ConfigError;

/// Where a plugin runs.
///
/// In the host's process by default: a plugin process costs a round trip a
/// call, 3 to 4% of the wall time of the 500-test GoogleTest and pytest
/// benchmark suites (`benchmarks/isolation.py`), more than the 3% allowed
/// a default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    /// In the host's process for the plugins installed with it (its own
    /// plugin directory), in a process of their own for the others.
    Auto,
    Process,
    #[default]
    InProcess,
}

/// One plugin's options, as the file gives them.
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an object with `isolation` or `deadline_seconds`"
)]
pub(super) struct PluginFile {
    #[serde(default)]
    isolation: Option<Isolation>,
    /// Deadlines of its calls in seconds, by call name.
    #[serde(default)]
    deadline_seconds: BTreeMap<String, f64>,
}

/// How every plugin runs: the run's defaults and each plugin's own.
#[derive(Debug, Clone, Default)]
pub struct PluginPolicy {
    isolation: Isolation,
    deadlines: Deadlines,
    by_plugin: BTreeMap<String, (Option<Isolation>, Deadlines)>,
}

impl PluginPolicy {
    /// Where plugin `name` runs, and its deadlines.
    pub fn of(&self, name: &str) -> (Isolation, &Deadlines) {
        match self.by_plugin.get(name) {
            Some((isolation, deadlines)) => (isolation.unwrap_or(self.isolation), deadlines),
            None => (self.isolation, &self.deadlines),
        }
    }
}

type At<'a> = &'a dyn Fn(&str, String) -> ConfigError;

pub(super) fn validate(
    isolation: Option<Isolation>,
    deadline_seconds: BTreeMap<String, f64>,
    plugins: BTreeMap<String, PluginFile>,
    at: At<'_>,
) -> Result<PluginPolicy, ConfigError> {
    let deadlines = deadlines(
        Deadlines::default(),
        deadline_seconds,
        "plugin_deadline_seconds",
        at,
    )?;
    let mut by_plugin = BTreeMap::new();
    for (name, plugin) in plugins {
        let location = format!("plugins.{name}.deadline_seconds");
        let own = self::deadlines(deadlines.clone(), plugin.deadline_seconds, &location, at)?;
        by_plugin.insert(name, (plugin.isolation, own));
    }
    Ok(PluginPolicy {
        isolation: isolation.unwrap_or_default(),
        deadlines,
        by_plugin,
    })
}

/// `base`, with the deadlines `seconds` sets.
fn deadlines(
    mut base: Deadlines,
    seconds: BTreeMap<String, f64>,
    location: &str,
    at: At<'_>,
) -> Result<Deadlines, ConfigError> {
    for (call, value) in seconds {
        let here = format!("{location}.{call}");
        let Some(operation) = Operation::from_name(&call) else {
            let calls: Vec<&str> = Operation::ALL.iter().map(|op| op.name()).collect();
            return Err(at(
                &here,
                format!(
                    "no plugin call is named `{call}`; the calls are {}",
                    calls.join(", ")
                ),
            ));
        };
        let deadline = super::seconds(at, &here, Some(value))?.expect("a value was given");
        base.set(operation, deadline);
    }
    Ok(base)
}
