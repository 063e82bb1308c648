//! A real PostgreSQL server of a test's own, from Debian's `postgresql`
//! package: a cluster made by `initdb` in a temporary directory, listening
//! on a free loopback port, stopped and removed when dropped. About half a
//! second to start.
//!
//! `initdb` refuses to run as root, and tests here often are root: then
//! the cluster is made and run as an unprivileged user, created the first
//! time it is needed.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

/// The user the server runs as when the tests are root.
const SERVER_USER: &str = "proctor-postgres";

/// A running server; stopped when dropped.
pub struct PostgresServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    user: Option<&'static str>,
}

impl PostgresServer {
    pub fn start() -> Self {
        let bin = server_binaries();
        let user = is_root().then(|| {
            ensure_user(SERVER_USER);
            SERVER_USER
        });
        let dir = tempfile::tempdir().unwrap();
        if let Some(user) = user {
            super::run_to_success(
                Command::new("chown").arg(user).arg(dir.path()),
                "chown the server's directory",
            );
        }
        let port = free_port();
        let server = Self {
            dir,
            bin,
            port,
            user,
        };
        let data = server.data().to_str().unwrap().to_owned();
        let mut initdb = server.command("initdb", &["-D", &data]);
        initdb.args([
            "--auth=trust",
            "--username=proctor",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        super::run_to_success(&mut initdb, "initdb");
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            server.dir.path().display()
        );
        let log = server.dir.path().join("server.log");
        let started = server
            .command("pg_ctl", &["-D", &data, "-o", &options, "-w", "start"])
            .arg("-l")
            .arg(&log)
            .output()
            .unwrap();
        assert!(
            started.status.success(),
            "the PostgreSQL server did not start: {}\n{}",
            String::from_utf8_lossy(&started.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        server
    }

    /// A connection URL for the cluster's `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://proctor@127.0.0.1:{}/postgres", self.port)
    }

    /// A URL for a database of its own, made now: tests sharing a
    /// server keep their histories apart.
    pub fn database(&self, name: &str) -> String {
        let mut client = postgres::Client::connect(&self.url(), postgres::NoTls).unwrap();
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        format!("postgres://proctor@127.0.0.1:{}/{name}", self.port)
    }

    /// One of the server's programs (`psql`, say).
    pub fn program(&self, name: &str) -> PathBuf {
        self.bin.join(name)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let program = self.program(program);
        let mut command = match self.user {
            Some(user) => {
                let mut runuser = Command::new("runuser");
                runuser.args(["-u", user, "--"]).arg(program);
                runuser
            }
            None => Command::new(program),
        };
        command.args(args);
        command
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let data = self.data().to_str().unwrap().to_owned();
        let _ = self
            .command("pg_ctl", &["-D", &data, "-m", "immediate", "stop"])
            .output();
    }
}

/// The newest server's programs (Debian installs them by major version).
fn server_binaries() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "this test needs a PostgreSQL server (Debian's postgresql), which this machine \
             lacks; `scripts/test` installs what the tests need"
        ),
    }
}

fn is_root() -> bool {
    let id = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&id.stdout).trim() == "0"
}

/// Makes the system user `name` unless it is there; tests racing to make
/// it find it made.
fn ensure_user(name: &str) {
    let exists = |name: &str| {
        Command::new("id")
            .arg(name)
            .output()
            .unwrap()
            .status
            .success()
    };
    if exists(name) {
        return;
    }
    let _ = Command::new("useradd")
        .args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            name,
        ])
        .output();
    assert!(
        exists(name),
        "could not make the user {name} the server runs as"
    );
}

/// A port nothing listens on now (the server takes it a moment later).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
