//! What a run tested and where it ran, recorded in its summary (so that a
//! store importing the results later knows it) and by a results store:
//! the machine, the Helix work item, the repository, branch and commit,
//! and the variant (key/value pairs such as `os`, `arch`, `config`), which
//! a short hash identifies, as LUCI's variant hash does.
//!
//! The commit comes from the git checkout the configuration is in when
//! there is one, else from the CI's environment; flags override both.

use std::collections::BTreeMap;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a run tested and where.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RunContext {
    pub machine: Option<String>,
    pub os: Option<String>,
    pub arch: Option<String>,
    /// Helix's work item (`HELIX_WORKITEM_FRIENDLYNAME`) and job
    /// (`HELIX_CORRELATION_ID`), when the run is one.
    pub work_item: Option<String>,
    pub job: Option<String>,
    pub queue: Option<String>,
    pub repository: Option<String>,
    pub branch: Option<String>,
    pub commit: Option<String>,
    /// The commit's time, in milliseconds since the epoch.
    pub commit_ms: Option<i64>,
    /// For repositories that number their commits.
    pub commit_position: Option<i64>,
    #[serde(default)]
    pub variant: BTreeMap<String, String>,
}

/// A run's context being gathered on a thread of its own: the checkout is
/// read (0.5 ms) while the host starts, not before its first test
/// process. Only the summary reads it, as the run ends, so the thread runs
/// at the lowest priority: on a core the run leaves idle, not beside the
/// host's start and its first test's.
pub enum Gathering {
    Thread(std::thread::JoinHandle<RunContext>),
    Gathered(Box<RunContext>),
}

impl Gathering {
    pub fn start(gather: impl FnOnce() -> RunContext + Clone + Send + 'static) -> Self {
        let thread = std::thread::Builder::new().name("context".into());
        let yielding = gather.clone();
        let yielding = move || {
            yield_to_the_run();
            yielding()
        };
        match thread.spawn(yielding) {
            Ok(thread) => Self::Thread(thread),
            Err(_) => Self::Gathered(Box::new(gather())),
        }
    }

    /// The context, once gathered; this machine alone if gathering panicked.
    pub fn wait(self) -> RunContext {
        match self {
            Self::Thread(thread) => thread.join().unwrap_or_else(|_| RunContext::this_machine()),
            Self::Gathered(context) => *context,
        }
    }
}

/// Lowers this thread to the lowest priority: Linux gives each thread its
/// own nice value.
fn yield_to_the_run() {
    // SAFETY: setpriority takes no pointers; a refusal leaves the priority as it was.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 19) };
}

/// Each CI system's variables for the repository, branch and commit, as
/// it documents them.
const CI_VARIABLES: &[(&str, &str, &str)] = &[
    // GitHub Actions (GITHUB_SERVER_URL/GITHUB_REPOSITORY makes the repository).
    ("GITHUB_REPOSITORY", "GITHUB_REF_NAME", "GITHUB_SHA"),
    // Azure Pipelines.
    (
        "BUILD_REPOSITORY_URI",
        "BUILD_SOURCEBRANCHNAME",
        "BUILD_SOURCEVERSION",
    ),
    // GitLab CI.
    ("CI_PROJECT_URL", "CI_COMMIT_REF_NAME", "CI_COMMIT_SHA"),
    // Buildkite.
    ("BUILDKITE_REPO", "BUILDKITE_BRANCH", "BUILDKITE_COMMIT"),
];

impl RunContext {
    /// This machine: its name, OS and architecture, which are also the
    /// variant's first pairs.
    pub fn this_machine() -> Self {
        let machine = machine_name();
        let (os, arch) = (std::env::consts::OS, std::env::consts::ARCH);
        Self {
            machine,
            os: Some(os.to_owned()),
            arch: Some(arch.to_owned()),
            variant: BTreeMap::from([
                ("os".to_owned(), os.to_owned()),
                ("arch".to_owned(), arch.to_owned()),
            ]),
            ..Self::default()
        }
    }

    /// This machine, the Helix work item, and the commit of the git
    /// checkout holding `dir`, else the CI's: what a run started here tests.
    pub fn gather(dir: &Path, env: impl Fn(&str) -> Option<String>) -> Self {
        let mut context = Self::this_machine();
        context.work_item = env("HELIX_WORKITEM_FRIENDLYNAME").or_else(|| env("HELIX_WORKITEM_ID"));
        context.job = env("HELIX_CORRELATION_ID");
        if !context.read_git(dir) {
            context.read_ci(&env);
        }
        context
    }

    /// The checkout's commit, its time, branch and origin (without
    /// credentials); false when `dir` is in no checkout, or in one without
    /// a commit. Read as git reads them (`GIT_DIR` and the variables that
    /// bound its search, configuration files, loose and packed objects and
    /// references, worktrees), by a library in this process: two
    /// git commands took 2.5 ms of CPU a run, most of it the kernel's
    /// starting them, which no priority keeps from the host's own start.
    fn read_git(&mut self, dir: &Path) -> bool {
        let Ok(repository) = gix::discover_with_environment_overrides(dir) else {
            return false;
        };
        let Ok(commit) = repository.head_commit() else {
            return false;
        };
        self.commit = Some(commit.id.to_string());
        self.commit_ms = commit.time().ok().map(|time| time.seconds * 1000);
        // The branch HEAD points at; none when it is detached.
        self.branch =
            (repository.head_name().ok().flatten()).map(|name| name.shorten().to_string());
        self.repository = (repository.config_snapshot())
            .string("remote.origin.url")
            .map(|url| url.to_string())
            .filter(|url| !url.is_empty())
            .map(|url| without_credentials(&url));
        true
    }

    fn read_ci(&mut self, env: &impl Fn(&str) -> Option<String>) {
        for (repository, branch, commit) in CI_VARIABLES {
            let Some(sha) = env(commit) else {
                continue;
            };
            self.commit = Some(sha);
            self.branch = env(branch);
            self.repository =
                env(repository).map(|repo| match (*repository, env("GITHUB_SERVER_URL")) {
                    ("GITHUB_REPOSITORY", Some(server)) => {
                        format!("{}/{repo}", server.trim_end_matches('/'))
                    }
                    _ => without_credentials(&repo),
                });
            if *commit == "CI_COMMIT_SHA" {
                self.commit_ms = env("CI_COMMIT_TIMESTAMP")
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
                    .map(|t| t.timestamp_millis());
            }
            return;
        }
    }

    /// The variant's hash (the first 16 hex digits of the SHA-256 of its
    /// sorted `key:value` lines) and its pairs as a JSON object.
    pub fn variant_key(&self) -> (String, String) {
        let mut digest = Sha256::new();
        for (key, value) in &self.variant {
            digest.update(format!("{key}:{value}\n"));
        }
        let hash: String = digest.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let pairs = serde_json::to_string(&self.variant).expect("a map of strings serializes");
        (hash, pairs)
    }
}

/// This machine's name, as the kernel knows it.
pub fn machine_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
}

/// A repository URL without the user and password it may carry: the
/// repository's identity, the same from every machine whatever its token
/// (the redactor masks secrets for showing; this drops them).
fn without_credentials(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_is_gathered_at_the_lowest_priority_and_the_host_keeps_its_own() {
        let nice = || {
            // SAFETY: getpriority takes no pointers; this thread's own value.
            unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
        };
        let own = nice();
        let gathered = Gathering::start(move || RunContext {
            machine: Some(nice().to_string()),
            ..RunContext::default()
        });
        assert_eq!(gathered.wait().machine.as_deref(), Some("19"));
        assert_eq!(nice(), own);
    }

    #[test]
    fn a_variant_is_named_by_its_pairs_whatever_their_order() {
        let mut one = RunContext::default();
        one.variant.insert("os".into(), "linux".into());
        one.variant.insert("config".into(), "release".into());
        let mut other = RunContext::default();
        other.variant.insert("config".into(), "release".into());
        other.variant.insert("os".into(), "linux".into());
        assert_eq!(one.variant_key(), other.variant_key());
        assert_eq!(one.variant_key().0.len(), 16);
        other.variant.insert("config".into(), "debug".into());
        assert_ne!(one.variant_key().0, other.variant_key().0);
    }

    #[test]
    fn outside_a_checkout_the_cis_variables_say_what_was_tested() {
        let outside = tempfile::tempdir().unwrap();
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let github = RunContext::gather(
            outside.path(),
            env(&[
                ("GITHUB_SHA", "abc123"),
                ("GITHUB_REF_NAME", "main"),
                ("GITHUB_REPOSITORY", "octo/app"),
                ("GITHUB_SERVER_URL", "https://github.com"),
                ("HELIX_WORKITEM_FRIENDLYNAME", "unit-tests"),
                ("HELIX_CORRELATION_ID", "job-7"),
            ]),
        );
        assert_eq!(github.commit.as_deref(), Some("abc123"));
        assert_eq!(github.branch.as_deref(), Some("main"));
        assert_eq!(
            github.repository.as_deref(),
            Some("https://github.com/octo/app")
        );
        assert_eq!(
            (github.work_item.as_deref(), github.job.as_deref()),
            (Some("unit-tests"), Some("job-7"))
        );
        let gitlab = RunContext::gather(
            outside.path(),
            env(&[
                ("CI_COMMIT_SHA", "def456"),
                (
                    "CI_PROJECT_URL",
                    "https://ci-token:secret@gitlab.example/group/app",
                ),
                ("CI_COMMIT_TIMESTAMP", "2026-12-01T10:00:00+00:00"),
            ]),
        );
        assert_eq!(gitlab.commit.as_deref(), Some("def456"));
        assert_eq!(
            gitlab.repository.as_deref(),
            Some("https://gitlab.example/group/app")
        );
        assert_eq!(gitlab.commit_ms, Some(1_796_119_200_000));
        assert_eq!(RunContext::gather(outside.path(), env(&[])).commit, None);
    }

    /// Runs git in `dir`; answers what it printed, trimmed.
    fn git(dir: &Path, args: &[&str]) -> String {
        let output = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@e"])
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "git {args:?}");
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    /// The commit and its time as git itself tells them.
    fn as_git_says(dir: &Path) -> (Option<String>, Option<i64>) {
        let said = git(dir, &["log", "-1", "--format=%H %ct"]);
        let (commit, seconds) = said.split_once(' ').unwrap();
        (
            Some(commit.to_owned()),
            seconds.parse::<i64>().ok().map(|s| s * 1000),
        )
    }

    #[test]
    fn a_git_checkout_says_its_commit_branch_and_origin() {
        let repo = tempfile::tempdir().unwrap();
        let dir = repo.path();
        git(dir, &["init", "-q", "-b", "trunk"]);
        git(dir, &["commit", "-q", "--allow-empty", "-m", "one"]);
        git(
            dir,
            &[
                "remote",
                "add",
                "origin",
                "https://user:token@git.example/app.git",
            ],
        );
        // The checkout outranks the CI's variables.
        let gather = |dir: &Path| {
            RunContext::gather(dir, |name| {
                (name == "GITHUB_SHA").then(|| "other".to_owned())
            })
        };
        let context = gather(dir);
        assert_eq!((context.commit, context.commit_ms), as_git_says(dir));
        assert_eq!(context.branch.as_deref(), Some("trunk"));
        assert_eq!(
            context.repository.as_deref(),
            Some("https://git.example/app.git")
        );

        // From a directory within, with the commit and its branch packed.
        git(dir, &["commit", "-q", "--allow-empty", "-m", "two"]);
        git(dir, &["gc", "-q"]);
        let within = dir.join("src");
        std::fs::create_dir(&within).unwrap();
        let context = gather(&within);
        assert_eq!((context.commit, context.commit_ms), as_git_says(dir));
        assert_eq!(context.branch.as_deref(), Some("trunk"));

        // A detached HEAD is on no branch.
        git(dir, &["checkout", "-q", "--detach", "HEAD~1"]);
        let context = gather(dir);
        assert_eq!((context.commit, context.commit_ms), as_git_says(dir));
        assert_eq!(context.branch, None);

        // A linked worktree has a HEAD of its own, and the origin of all.
        let linked = dir.join("linked");
        git(
            dir,
            &[
                "worktree",
                "add",
                "-q",
                "-b",
                "side",
                linked.to_str().unwrap(),
                "trunk",
            ],
        );
        let context = gather(&linked);
        assert_eq!((context.commit, context.commit_ms), as_git_says(&linked));
        assert_eq!(context.branch.as_deref(), Some("side"));
        assert_eq!(
            context.repository.as_deref(),
            Some("https://git.example/app.git")
        );
    }

    #[test]
    fn a_checkout_without_a_commit_leaves_the_commit_to_the_ci() {
        let repo = tempfile::tempdir().unwrap();
        git(repo.path(), &["init", "-q", "-b", "trunk"]);
        let context = RunContext::gather(repo.path(), |name| {
            (name == "GITHUB_SHA").then(|| "abc123".to_owned())
        });
        assert_eq!(context.commit.as_deref(), Some("abc123"));
    }
}
