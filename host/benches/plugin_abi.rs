//! Plugin micro-benchmarks: loading a library, and the cost of one call
//! across the ABI (JSON request and answer included) made each way the host
//! makes calls: directly (the SDK's harness), in process with a watchdog
//! keeping its deadline (the host), and in a plugin process. Needs the host
//! and the built-in plugins built in the same profile: `benchmarks/run.sh`
//! does that.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use proctor::plugins::{load_library, OutputStream, RunnerPlugin};
use proctor_loader::{CallOptions, Deadlines, Isolation, PluginHostProgram};
use proctor_plugin_api::messages::*;

fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the bench has a path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("benches run from <target>/<profile>/deps")
        .to_path_buf()
}

fn libtest_library() -> PathBuf {
    profile_dir().join(format!(
        "libproctor_runner_libtest.{}",
        std::env::consts::DLL_EXTENSION
    ))
}

fn main() {
    let path = libtest_library();
    let started = Instant::now();
    let library = load_library(&path).unwrap_or_else(|r| panic!("{}: {}", path.display(), r));
    let load = started.elapsed();

    let direct = RunnerPlugin::create(&library, "libtest", &serde_json::Value::Null)
        .expect("libtest starts");
    let create = |isolation| {
        let options = CallOptions {
            isolation,
            deadlines: Deadlines::default(),
        };
        RunnerPlugin::create_with(&library, "libtest", &serde_json::Value::Null, &options)
            .expect("libtest starts")
    };
    let in_process = create(Isolation::InProcess);
    let program = PluginHostProgram {
        program: profile_dir().join("proctor"),
        args: vec!["plugin-host".into()],
    };
    let started = Instant::now();
    let out_of_process = create(Isolation::Process(program));
    let start = started.elapsed();
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
    let stream = OutputStream::new(request.source.clone(), Stream::Stdout);
    let lines = ["test tests::case_000 ... ok".to_owned()];
    let per_call = |runner: &RunnerPlugin, operation: &str| {
        let calls = 20_000;
        let started = Instant::now();
        for _ in 0..calls {
            match operation {
                "plan_execution" => {
                    drop(runner.plan_execution(&request).expect("planning succeeds"))
                }
                _ => drop(
                    runner
                        .parse_output(&stream, &lines)
                        .expect("parsing succeeds"),
                ),
            }
        }
        started.elapsed() / calls
    };
    println!(
        "plugin library load (dlopen + checks + manifest): {}",
        micros(load)
    );
    println!(
        "plugin process start (spawn, load, create): {}",
        micros(start)
    );
    let (json, lines_as_they_are) = ("JSON both ways", "the lines as they are, JSON back");
    for (operation, how, runner, carried) in [
        ("plan_execution", "directly", &direct, json),
        ("plan_execution", "in process, watched", &in_process, json),
        (
            "plan_execution",
            "in a plugin process",
            &out_of_process,
            json,
        ),
        (
            "parse_output",
            "in process, watched",
            &in_process,
            lines_as_they_are,
        ),
        ("parse_output", "in a plugin process", &out_of_process, json),
    ] {
        println!(
            "one plugin call ({operation}, {carried}), {how}: {}",
            micros(per_call(runner, operation))
        );
    }
}

fn micros(duration: Duration) -> String {
    format!("{:.1} µs", duration.as_secs_f64() * 1e6)
}
