//! Plugin micro-benchmarks: loading a library, and the cost of one call
//! across the ABI (JSON request and answer included). Needs the built-in
//! plugins built in the same profile: `benchmarks/run.sh` does that.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use proctor::plugins::{load_library, RunnerPlugin};
use proctor_plugin_api::messages::*;

fn libtest_library() -> PathBuf {
    let exe = std::env::current_exe().expect("the bench has a path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("benches run from <target>/<profile>/deps");
    profile_dir.join(format!(
        "libproctor_runner_libtest.{}",
        std::env::consts::DLL_EXTENSION
    ))
}

fn main() {
    let path = libtest_library();
    let started = Instant::now();
    let library = load_library(&path).unwrap_or_else(|r| panic!("{}: {}", path.display(), r));
    let load = started.elapsed();

    let runner = RunnerPlugin::create(&library, "libtest", &serde_json::Value::Null)
        .expect("libtest starts");
    let test = TestCase {
        name: "tests::case_000".into(),
        runner_data: serde_json::json!({ "binary": "/bin/true", "test": "tests::case_000", "cwd": "/" }),
        ..TestCase::new("suite::tests::case_000")
    };
    let request = ExecutionRequest {
        source: SourceInfo {
            name: "suite".into(),
            path: "/bin/true".into(),
            base_dir: "/".into(),
        },
        tests: vec![test],
        attempt: 1,
        artifacts_dir: "/tmp".into(),
    };
    let calls = 20_000;
    let started = Instant::now();
    for _ in 0..calls {
        runner.plan_execution(&request).expect("planning succeeds");
    }
    let per_call = started.elapsed() / calls;
    println!(
        "plugin library load (dlopen + checks + manifest): {}",
        micros(load)
    );
    println!(
        "one plugin call across the ABI (plan_execution, JSON both ways): {}",
        micros(per_call)
    );
}

fn micros(duration: Duration) -> String {
    format!("{:.1} µs", duration.as_secs_f64() * 1e6)
}
