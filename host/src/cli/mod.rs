//! The command line: `proctor run`, `proctor list`, `proctor plugins`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use proctor_formats::text::counted;
use proctor_plugin_api::messages::TestCase;
use serde::Serialize;

use crate::error::{Error, ExitStatus, Result};
use crate::plugins::{Catalog, SearchPath};
use crate::process::{decide_containment_early, guardian, Stopper};
use crate::redact::Redactor;
use crate::report::{Console, HelixEnvironment, OutputShown, ShownOutput};
use crate::run::{self, RunOptions, Session};
use crate::select::Filter;

mod history;
mod plugins;
mod supervisor;

/// A test-run host: fetches, discovers, runs, supervises and reports tests
/// through plugins.
///
/// Exit codes: 0 all tests passed, 1 tests failed, 2 usage or configuration
/// error, 3 infrastructure error (a plugin that ended proctor's process
/// included), 4 no test was selected; 130, 143, 129: the run was stopped by
/// SIGINT, SIGTERM, SIGHUP (its reports are written).
#[derive(Debug, Parser)]
#[command(name = "proctor", version, about, long_about)]
pub struct Cli {
    /// A directory to look for plugins in, before the configuration's and the default one.
    #[arg(long = "plugin-dir", value_name = "DIR", global = true)]
    plugin_dirs: Vec<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the tests of a configuration.
    Run {
        /// The configuration; default: proctor.json or shared-infra-configuration.json here.
        config: Option<PathBuf>,
        /// How many test processes run at once; default: the number of cores.
        #[arg(short, long)]
        jobs: Option<usize>,
        /// Where results go, instead of the configuration's results_dir
        /// (or Helix's HELIX_WORKITEM_UPLOAD_ROOT, when set).
        #[arg(long, value_name = "DIR")]
        results_dir: Option<PathBuf>,
        /// The results layout to write, instead of the configuration's
        /// `results_layout`: 2 (the default), or 1, the layout written
        /// before 2 became the default: the same records in twice the
        /// bytes (docs/results-layout.md).
        #[arg(long, value_name = "VERSION")]
        results_layout: Option<crate::results::Layout>,
        #[command(flatten)]
        filter: FilterArg,
        /// What a run that selects no test ends as, instead of the
        /// configuration's `no_tests`: fail (exit 4, the default), warn or pass.
        #[arg(long, value_enum, value_name = "ACTION")]
        no_tests: Option<crate::config::NoTests>,
        /// When a failing test's message and the end of its output are
        /// shown: under its line as it fails, in the closing summary, both,
        /// or never.
        #[arg(long, value_enum, value_name = "WHEN", default_value_t = OutputShown::Immediate)]
        failure_output: OutputShown,
        /// When a passing test's output is shown: as for failures; never by default.
        #[arg(long, value_enum, value_name = "WHEN", default_value_t = OutputShown::Never)]
        success_output: OutputShown,
        #[command(flatten)]
        store: history::StoreArg,
        /// Record the run in no results store.
        #[arg(long, conflicts_with = "store")]
        no_store: bool,
        #[command(flatten)]
        context: history::ContextArgs,
    },
    /// The results store: every run recorded as it ends.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Find the commit that broke a test by running it at commits between
    /// a good one and a bad one, several times each, in a scratch worktree:
    /// a flake-aware binary search.
    Bisect {
        /// The test's id, as the results name it.
        id: String,
        /// A commit where the test passes.
        #[arg(long, value_name = "COMMIT")]
        good: String,
        /// A later commit where it fails.
        #[arg(long, value_name = "COMMIT")]
        bad: String,
        /// A shell command that builds each checkout, run in its root; a
        /// build that fails leaves that commit untested.
        #[arg(long, value_name = "COMMAND")]
        build: Option<String>,
        /// Runs of the test each time a commit is tested.
        #[arg(long, default_value_t = 3, value_name = "N",
              value_parser = clap::value_parser!(u32).range(1..))]
        repeat: u32,
        /// Runs of the test in all, at most.
        #[arg(long, default_value_t = 60, value_name = "RUNS")]
        budget: u32,
        /// Only the test of this source.
        #[arg(long)]
        source: Option<String>,
        /// The configuration; default: proctor.json or
        /// shared-infra-configuration.json here.
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        #[command(flatten)]
        store: history::StoreArg,
        /// Record the bisection's runs in no results store.
        #[arg(long, conflicts_with = "store")]
        no_store: bool,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// What the results store knows of tests across runs.
    History {
        #[command(subcommand)]
        command: HistoryCommand,
    },
    /// Discover and list the tests of a configuration.
    List {
        config: Option<PathBuf>,
        #[command(flatten)]
        filter: FilterArg,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// List the plugins found, their versions and API versions, and why any was refused.
    Plugins {
        /// A configuration whose plugin_dirs are searched too.
        config: Option<PathBuf>,
        /// Check one plugin library instead: load it, print its manifest, and
        /// exit 3 with the reason when this host would refuse it.
        #[arg(long, value_name = "LIBRARY", conflicts_with = "config")]
        check: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// A plugin process: loads one plugin and answers the host's calls over
    /// stdin and stdout.
    #[command(hide = true)]
    PluginHost,
}

#[derive(Debug, Subcommand)]
enum StoreCommand {
    /// Forget the runs that started longer ago than an age, and their results.
    Prune {
        /// `90d`, `12h`, `2w`, ...
        #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
        older_than: std::time::Duration,
        #[command(flatten)]
        store: history::StoreArg,
    },
    /// Record the runs of results directories made elsewhere or earlier;
    /// a run already recorded (by its id) is left as it is.
    Import {
        #[arg(required = true, value_name = "RESULTS_DIR")]
        dirs: Vec<PathBuf>,
        #[command(flatten)]
        store: history::StoreArg,
    },
}

#[derive(Debug, Subcommand)]
enum HistoryCommand {
    /// The commit range where a test went from passing to failing, found
    /// in its history ordered by commit, per variant, flake-aware: or that
    /// it always failed, is flaky without a change, or passes.
    Culprit {
        /// The test's id, as the results name it.
        id: String,
        /// Only the test of this source.
        #[arg(long)]
        source: Option<String>,
        /// Only the variants holding this pair (repeatable): `--variant os=linux`.
        #[arg(long, value_name = "KEY=VALUE", value_parser = history::key_value)]
        variant: Vec<(String, String)>,
        #[command(flatten)]
        store: history::StoreArg,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Every test whose history's latest change made it fail, the most
    /// recent first.
    Regressions {
        /// Only tests that failed in the store's latest this many runs.
        #[arg(long, default_value_t = 100, value_name = "RUNS")]
        window: u32,
        #[command(flatten)]
        store: history::StoreArg,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Failures clustered by their normalised reason and by dump signature,
    /// with counts, tests, first and last seen, and which clusters the
    /// latest run saw first.
    Failures {
        #[command(flatten)]
        store: history::StoreArg,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// The tests that both passed and failed on one commit and variant,
    /// with their flake rate and how often a retry turned them green.
    Flaky {
        /// Over each test's last this many runs; default: all.
        #[arg(long, value_name = "RUNS")]
        window: Option<u32>,
        #[command(flatten)]
        store: history::StoreArg,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Helix quarantine rules (a `test-configuration.json`) for the tests
    /// flaky in at least 2 of their last 100 runs, at a rate of 5% or more.
    Quarantine {
        #[command(flatten)]
        args: history::QuarantineArgs,
        #[command(flatten)]
        store: history::StoreArg,
    },
    /// A test's verdict in every recorded run, oldest first: when, at which
    /// commit and variant, how it ended, and why it failed.
    Test {
        /// The test's id, as the results name it.
        id: String,
        /// Only the test of this source.
        #[arg(long)]
        source: Option<String>,
        #[command(flatten)]
        store: history::StoreArg,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
}

#[derive(Debug, clap::Args)]
struct FilterArg {
    /// Select tests: `test(GLOB)`, `name(GLOB)`, `source(GLOB)`, `attr(KEY)`,
    /// `attr(KEY=GLOB)`, combined with `and`, `or`, `not` and parentheses.
    #[arg(long, value_name = "EXPRESSION")]
    filter: Option<String>,
}

impl FilterArg {
    fn parse(&self) -> Result<Option<Filter>> {
        self.filter
            .as_deref()
            .map(|text| Filter::parse(text).map_err(|e| Error::usage(format!("--filter: {e}"))))
            .transpose()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
}

pub fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    // The guardian and plugin processes are the host's helpers, which it
    // watches itself.
    let supervised = !matches!(cli.command, Command::PluginHost);
    let announcer = supervised.then(supervisor::fork).and_then(|forked| {
        forked
            .map_err(|e| tracing::warn!("cannot start the supervising process ({e}): a plugin that ends the host's process decides its exit status"))
            .ok()
    });
    let announcer = announcer.map(std::sync::Arc::new);
    let announcing = announcer.clone();
    proctor_loader::on_stuck_call(Box::new(move |message| {
        eprintln!("error: {message}");
        // A call held past a stop's bound ends a run that was stopping.
        let status = match crate::plugins::calls_bound_by() {
            Some(signal) => ExitStatus::Interrupted(signal),
            None => ExitStatus::InfrastructureError,
        }
        .code();
        if let Some(announcer) = &announcing {
            announcer.announce(status);
        }
        std::process::exit(status.into());
    }));
    let status = match execute(cli) {
        Ok(status) => status,
        Err(error) => {
            // Whatever the error quotes, a URI's credentials stay unshown.
            let error = error.redacted(&Redactor::default());
            eprintln!("error: {error}");
            error.exit_status()
        }
    };
    crate::process::settle_containment();
    log_resource_usage();
    if let Some(announcer) = announcer {
        announcer.announce(status.code());
    }
    ExitCode::from(status.code())
}

/// The host's own CPU time and peak memory, children apart, for
/// `benchmarks/host_cost.py` (`RUST_LOG=proctor::usage=debug`): the
/// process CI starts only supervises, so its own figures say nothing.
fn log_resource_usage() {
    if !tracing::enabled!(target: "proctor::usage", tracing::Level::DEBUG) {
        return;
    }
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tracing::debug!(
        target: "proctor::usage",
        user_seconds = seconds(usage.ru_utime),
        system_seconds = seconds(usage.ru_stime),
        peak_rss_kib = usage.ru_maxrss,
        minor_faults = usage.ru_minflt,
        context_switches = usage.ru_nvcsw + usage.ru_nivcsw,
        "host resource usage"
    );
}

/// How many threads this machine runs at once, as its CPUs and its
/// cgroup's quota allow: read once, for the jobs and the runtime's workers
/// alike (each reading is three files).
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores())
        .enable_all()
        .build()
        .map_err(|e| Error::infrastructure(format!("cannot start the async runtime: {e}")))
}

/// A runtime whose stopper hears SIGINT, SIGTERM and SIGHUP from here on:
/// they stop the command's work rather than end its process.
fn stopping_runtime() -> Result<(tokio::runtime::Runtime, Stopper)> {
    let runtime = runtime()?;
    let stopper = Stopper::new();
    {
        let _entered = runtime.enter();
        stopper.listen().map_err(|e| {
            Error::infrastructure(format!("cannot install the signal handlers: {e}"))
        })?;
    }
    Ok((runtime, stopper))
}

/// A runtime for a command that runs processes: stop signals are handled
/// from here on, and a guardian outlives this host to kill what it leaves.
fn supervising_runtime() -> Result<(tokio::runtime::Runtime, Stopper)> {
    // The guardian first: it hears of the group the containment proof makes.
    match guardian::start() {
        Ok(()) => {}
        Err(e) => tracing::warn!(
            "cannot start the guardian ({e}): a host killed by SIGKILL would leave its tests running"
        ),
    }
    decide_containment_early();
    stopping_runtime()
}

fn current_dir() -> Result<PathBuf> {
    std::env::current_dir()
        .map_err(|e| Error::infrastructure(format!("cannot read the current directory: {e}")))
}

fn execute(cli: Cli) -> Result<ExitStatus> {
    match cli.command {
        Command::Run {
            config,
            jobs,
            results_dir,
            results_layout,
            filter,
            no_tests,
            failure_output,
            success_output,
            store,
            no_store,
            context,
        } => {
            if let Some(jobs) = jobs {
                crate::config::check_jobs(jobs)
                    .map_err(|problem| Error::usage(format!("--jobs {problem}")))?;
            }
            let filter = filter.parse()?;
            let path = crate::config::locate(config.as_deref(), &current_dir()?)?;
            let (runtime, stopper) = supervising_runtime()?;
            let session = prepare(&runtime, &path, &cli.plugin_dirs, &stopper)?;
            // A run goes on without a store it cannot place.
            let store = (!no_store)
                .then(|| store.for_run(session.config.store.as_ref()))
                .flatten();
            let jobs = jobs.or(session.config.jobs).unwrap_or_else(cores);
            let options = RunOptions {
                jobs,
                results_dir,
                results_layout,
                filter,
                no_tests,
                stopper,
                helix: HelixEnvironment::from_env(),
                context: Some(crate::results::Gathering::start({
                    let dir = session.config.base_dir.clone();
                    move || context.gather(&dir)
                })),
                store,
                subscribers: Vec::new(),
            };
            let console = Arc::new(Console::new(ShownOutput {
                failures: failure_output,
                successes: success_output,
            }));
            let summary = runtime.block_on(run::run(session, options, console))?;
            // Nothing runs on it any more: its threads end with the process
            // rather than be woken and joined one by one first.
            runtime.shutdown_background();
            Ok(summary.status())
        }
        Command::Store {
            command: StoreCommand::Import { dirs, store },
        } => history::import(&store, &dirs),
        Command::Store {
            command: StoreCommand::Prune { older_than, store },
        } => history::prune(&store, older_than),
        Command::History { command } => history_command(command),
        Command::Bisect {
            id,
            good,
            bad,
            build,
            repeat,
            budget,
            source,
            config,
            store,
            no_store,
            format,
        } => {
            let path = crate::config::locate(config.as_deref(), &current_dir()?)?;
            let mut run_args = match no_store {
                true => vec!["--no-store".to_owned()],
                false => store.as_run_args(),
            };
            for dir in &cli.plugin_dirs {
                run_args.push("--plugin-dir".into());
                run_args.push(dir.display().to_string());
            }
            let request = crate::bisect::Bisection {
                config: path,
                test: id,
                source,
                good,
                bad,
                build,
                repeat,
                budget,
                run_args,
            };
            // A stop signal ends the search, not the process: the scratch
            // worktree is removed and what was found is said.
            let (_runtime, stopper) = stopping_runtime()?;
            history::bisect(&request, &stopper, format)
        }
        Command::List {
            config,
            filter,
            format,
        } => {
            let filter = filter.parse()?;
            let path = crate::config::locate(config.as_deref(), &current_dir()?)?;
            // Before the plugins load: their threads would keep the
            // guardian from being forked.
            let (runtime, stopper) = supervising_runtime()?;
            let session = prepare(&runtime, &path, &cli.plugin_dirs, &stopper)?;
            list(&session, (runtime, stopper), filter.as_ref(), format)
        }
        Command::Plugins {
            check: Some(library),
            format,
            ..
        } => plugins::check(&library, format),
        Command::PluginHost => {
            proctor_loader::remote::serve().map_err(|e| {
                Error::infrastructure(format!("plugin process: the host's frames: {e}"))
            })?;
            Ok(ExitStatus::Passed)
        }
        Command::Plugins { config, format, .. } => {
            // As for `run` and `list`, CONFIG defaults to the configuration
            // here; without one, the host's own directories are searched.
            let config = match config {
                Some(path) => Some(path),
                None => crate::config::locate(None, &current_dir()?).ok(),
            };
            let config_dirs = match config {
                Some(path) => crate::config::load(&path)?.plugin_dirs,
                None => Vec::new(),
            };
            let catalog = Catalog::load(SearchPath::new(&cli.plugin_dirs, &config_dirs));
            match plugins::print_plugins(&catalog, format) {
                true => Ok(ExitStatus::Passed),
                // No run could start: the installation is broken.
                false => Err(Error::infrastructure(format!(
                    "no plugin this host can load; looked in: {}",
                    catalog.search_path
                ))),
            }
        }
    }
}

#[derive(Serialize)]
struct ListedTest<'a> {
    source: &'a str,
    id: &'a str,
    name: &'a str,
    skip: Option<String>,
    attributes: &'a std::collections::BTreeMap<String, String>,
}

impl<'a> ListedTest<'a> {
    fn new(source: &'a str, test: &'a TestCase, skip: Option<String>) -> Self {
        Self {
            source,
            id: &test.id,
            name: &test.name,
            skip,
            attributes: &test.attributes,
        }
    }
}

/// `proctor history`'s commands, each to its function.
fn history_command(command: HistoryCommand) -> Result<ExitStatus> {
    match command {
        HistoryCommand::Test {
            id,
            source,
            store,
            format,
        } => history::test(&store, source.as_deref(), &id, format),
        HistoryCommand::Flaky {
            window,
            store,
            format,
        } => history::flaky(&store, window, format),
        HistoryCommand::Quarantine { args, store } => history::quarantine(&store, &args),
        HistoryCommand::Failures { store, format } => history::failures(&store, format),
        HistoryCommand::Culprit {
            id,
            source,
            variant,
            store,
            format,
        } => history::culprit(&store, source.as_deref(), &id, &variant, format),
        HistoryCommand::Regressions {
            window,
            store,
            format,
        } => history::regressions(&store, window, format),
    }
}

/// The session of the configuration at `path`, its plugins' calls bounded
/// by `stopper` on `runtime`.
fn prepare(
    runtime: &tokio::runtime::Runtime,
    path: &Path,
    plugin_dirs: &[PathBuf],
    stopper: &Stopper,
) -> Result<Session> {
    let _entered = runtime.enter();
    Session::prepare(path, plugin_dirs, stopper)
}

fn list(
    session: &Session,
    (runtime, stopper): (tokio::runtime::Runtime, Stopper),
    filter: Option<&Filter>,
    format: Format,
) -> Result<ExitStatus> {
    let stopped = || {
        let signal = stopper.state().signal()?;
        eprintln!("error: stopped by {signal}");
        Some(ExitStatus::Interrupted(signal))
    };
    let (_, download_errors) = session.fetch(&Console::default(), &stopper)?;
    if let Some(status) = stopped() {
        return Ok(status);
    }
    if !download_errors.is_empty() {
        for error in &download_errors {
            eprintln!("error: {error}");
        }
        return Ok(ExitStatus::InfrastructureError);
    }
    let discovered = runtime.block_on(session.discover_all(None, &stopper));
    if let Some(status) = stopped() {
        return Ok(status);
    }
    let selector = session.selector(filter);
    let mut errors = Vec::new();
    let mut selections = Vec::new();
    for (source, result) in session.sources.iter().zip(discovered) {
        match result {
            Ok(tests) => {
                let name = source.config.name.as_str();
                selections.push((name, selector.select(name, tests)));
            }
            Err(error) => errors.push(format!(
                "source `{}`: discovery failed: {error}",
                source.config.name
            )),
        }
    }
    let mut listed = Vec::new();
    for (source, selection) in &selections {
        listed.extend(
            selection
                .run
                .iter()
                .map(|t| ListedTest::new(source, t, None)),
        );
        listed.extend(
            selection
                .skipped
                .iter()
                .map(|s| ListedTest::new(source, &s.test, Some(s.reason.clone()))),
        );
    }
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => {
            let _ = serde_json::to_writer_pretty(&mut out, &listed);
            let _ = writeln!(out);
        }
        Format::Human => {
            let width = listed
                .iter()
                .map(|t| t.source.len())
                .max()
                .unwrap_or(6)
                .max(6);
            let _ = writeln!(out, "{:width$}  TEST", "SOURCE");
            for test in &listed {
                let skip = test
                    .skip
                    .as_ref()
                    .map(|r| format!("  (skipped: {r})"))
                    .unwrap_or_default();
                let _ = writeln!(out, "{:width$}  {}{skip}", test.source, test.id);
            }
            let _ = writeln!(
                out,
                "{} in {}",
                counted(listed.len(), "test"),
                counted(session.sources.len(), "source")
            );
        }
    }
    for error in &errors {
        eprintln!("error: {error}");
    }
    Ok(if errors.is_empty() {
        ExitStatus::Passed
    } else {
        ExitStatus::InfrastructureError
    })
}
