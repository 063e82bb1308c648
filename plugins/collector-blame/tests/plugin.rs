//! The blame collector alone, through the SDK's harness.

use proctor_sdk::harness::{CollectorPlugin, PluginLibrary};
use proctor_sdk::messages::{LifecycleEvent, Outcome};
use serde_json::Value;

fn collector(settings: serde_json::Value) -> (CollectorPlugin, tempfile::TempDir) {
    let library = PluginLibrary::built(env!("CARGO_PKG_NAME")).unwrap();
    let blame = library.collector("blame", settings).unwrap();
    let results = tempfile::tempdir().unwrap();
    blame
        .on_event(&LifecycleEvent::SessionStarted {
            results_dir: results.path().to_path_buf(),
            dumps_dir: None,
        })
        .unwrap();
    (blame, results)
}

fn launched(pid: u32, tests: &[&str]) -> LifecycleEvent {
    LifecycleEvent::ProcessLaunched {
        source: "unit".into(),
        pid,
        tests: tests.iter().map(|t| t.to_string()).collect(),
        attempt: 1,
    }
}

fn started(pid: Option<u32>, test: &str) -> LifecycleEvent {
    LifecycleEvent::TestStarted {
        source: "unit".into(),
        test: test.into(),
        attempt: 1,
        pid,
    }
}

fn finished(pid: Option<u32>, test: &str, outcome: Outcome) -> LifecycleEvent {
    LifecycleEvent::TestFinished {
        source: "unit".into(),
        test: test.into(),
        attempt: 1,
        outcome,
        pid,
    }
}

fn read(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn a_crash_names_the_test_in_flight_of_its_own_process() {
    let (blame, _results) = collector(serde_json::json!({}));
    blame.on_event(&launched(10, &["a", "b", "c"])).unwrap();
    blame.on_event(&launched(11, &["x"])).unwrap();
    blame.on_event(&started(Some(10), "a")).unwrap();
    blame.on_event(&started(Some(11), "x")).unwrap();
    blame
        .on_event(&finished(Some(10), "a", Outcome::Passed))
        .unwrap();
    blame.on_event(&started(Some(10), "b")).unwrap();
    let response = blame
        .on_event(&LifecycleEvent::ProcessCrashed {
            source: "unit".into(),
            pid: 10,
            signal: Some(11),
        })
        .unwrap();
    let attachment = &response.attachments[0];
    assert_eq!(attachment.kind, "proctor://collector/blame/1");
    assert_eq!(
        attachment.description,
        "the tests of process 10, which crashed (signal 11) while running b"
    );
    assert_eq!(
        serde_json::to_value(&attachment.owner).unwrap(),
        serde_json::json!({ "owner": "attempt", "source": "unit", "test": "b", "attempt": 1 })
    );
    let report = read(&attachment.path);
    assert_eq!(report["ended"], "crashed");
    assert_eq!(report["in_flight"], serde_json::json!(["b"]));
    assert_eq!(report["given"], serde_json::json!(["a", "b", "c"]));
    assert_eq!(
        report["sequence"],
        serde_json::json!([{ "test": "a", "outcome": "passed" }, { "test": "b", "outcome": null }])
    );

    // A process that ends normally leaves nothing unless asked to.
    let response = blame
        .on_event(&LifecycleEvent::AttemptFinished {
            source: "unit".into(),
            pid: 11,
            attempt: 1,
        })
        .unwrap();
    assert!(response.attachments.is_empty());
}

#[test]
fn a_hang_with_two_tests_in_flight_belongs_to_the_source() {
    let (blame, _results) = collector(serde_json::json!({}));
    blame.on_event(&launched(20, &["p", "q"])).unwrap();
    // Events from a host before 1.4 carry no pid: the source's only process.
    blame.on_event(&started(None, "p")).unwrap();
    blame.on_event(&started(None, "q")).unwrap();
    let response = blame
        .on_event(&LifecycleEvent::HangDetected {
            source: "unit".into(),
            pid: 20,
            process_tree: vec![20, 21, 22],
        })
        .unwrap();
    let attachment = &response.attachments[0];
    assert_eq!(
        serde_json::to_value(&attachment.owner).unwrap(),
        serde_json::json!({ "owner": "source", "source": "unit" })
    );
    let report = read(&attachment.path);
    assert_eq!(report["ended"], "hung");
    assert_eq!(report["process_tree"], serde_json::json!([20, 21, 22]));
    assert_eq!(report["in_flight"], serde_json::json!(["p", "q"]));
}

#[test]
fn always_writes_every_process() {
    let (blame, _results) = collector(serde_json::json!({ "always": true }));
    blame.on_event(&launched(30, &["t"])).unwrap();
    blame.on_event(&started(Some(30), "t")).unwrap();
    blame
        .on_event(&finished(Some(30), "t", Outcome::Passed))
        .unwrap();
    let response = blame
        .on_event(&LifecycleEvent::AttemptFinished {
            source: "unit".into(),
            pid: 30,
            attempt: 1,
        })
        .unwrap();
    let report = read(&response.attachments[0].path);
    assert_eq!(report["ended"], "exited");
    assert_eq!(report["in_flight"], serde_json::json!([]));
}
