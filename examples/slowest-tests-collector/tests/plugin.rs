//! The collector tested on its own: the SDK's harness loads the built
//! library and sends it the events a run would.

use std::time::Duration;

use proctor_sdk::harness::PluginLibrary;
use proctor_sdk::messages::{LifecycleEvent, Outcome, SourceInfo};
use serde_json::json;

fn started(test: &str) -> LifecycleEvent {
    LifecycleEvent::TestStarted {
        source: "unit".into(),
        test: test.into(),
        attempt: 1,
        pid: Some(4242),
    }
}

fn finished(test: &str) -> LifecycleEvent {
    LifecycleEvent::TestFinished {
        source: "unit".into(),
        test: test.into(),
        attempt: 1,
        outcome: Outcome::Passed,
        pid: Some(4242),
    }
}

#[test]
fn the_slowest_tests_are_attached_when_the_session_ends() {
    let library = PluginLibrary::built(env!("CARGO_PKG_NAME")).unwrap();
    let collector = library
        .collector("slowest-tests", json!({ "count": 2 }))
        .unwrap();
    let results = tempfile::tempdir().unwrap();
    collector
        .on_event(&LifecycleEvent::SessionStarted {
            results_dir: results.path().to_path_buf(),
            dumps_dir: None,
        })
        .unwrap();
    let source = LifecycleEvent::SourceStarted {
        source: SourceInfo {
            name: "unit".into(),
            path: "/suite".into(),
            base_dir: "/".into(),
        },
    };
    let response = collector.on_event(&source).unwrap();
    assert_eq!(response.environment["SLOWEST_TESTS_SOURCE"], "unit");

    for test in ["quick", "slow", "medium"] {
        collector.on_event(&started(test)).unwrap();
    }
    collector.on_event(&finished("quick")).unwrap();
    std::thread::sleep(Duration::from_millis(40));
    collector.on_event(&finished("medium")).unwrap();
    std::thread::sleep(Duration::from_millis(40));
    collector.on_event(&finished("slow")).unwrap();

    let response = collector
        .on_event(&LifecycleEvent::SessionFinished)
        .unwrap();
    let attachment = &response.attachments[0];
    assert_eq!(attachment.kind, "urn:example:slowest-tests:text:1");
    let text = std::fs::read_to_string(&attachment.path).unwrap();
    let names: Vec<&str> = text
        .lines()
        .map(|line| line.split("  ").last().unwrap())
        .collect();
    assert_eq!(names, ["unit/slow (attempt 1)", "unit/medium (attempt 1)"]);
}

#[test]
fn a_count_of_zero_is_refused_as_settings() {
    let library = PluginLibrary::built(env!("CARGO_PKG_NAME")).unwrap();
    let error = library
        .collector("slowest-tests", json!({ "count": 0 }))
        .err()
        .unwrap();
    assert!(error.invalid_settings(), "{error}");
    assert!(error.to_string().contains("count: must be at least 1"));
}
