//! The pytest runner alone, through the SDK's harness: a real pytest batch.

use proctor_sdk::harness::{run_tests, PluginLibrary, Ran};
use proctor_sdk::messages::{LiveEvent, Outcome, SourceInfo, TestCase};

/// Runs `ids` in one pytest batch over a suite of one test file, `file`
/// holding `code`.
fn run_batch(file: &str, code: &str, ids: &[&str]) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("suite");
    std::fs::create_dir(&suite).unwrap();
    std::fs::write(suite.join(file), code).unwrap();
    let library = PluginLibrary::built(env!("CARGO_PKG_NAME")).unwrap();
    let runner = library.runner("pytest", serde_json::json!({})).unwrap();
    let source = SourceInfo {
        name: "py".into(),
        path: suite,
        base_dir: dir.path().to_path_buf(),
    };
    let tests = ids.iter().map(|id| TestCase::new(*id)).collect();
    run_tests(&runner, &source, tests, &dir.path().join("attempt")).unwrap()
}

#[test]
fn a_batch_runs_under_pytest_and_its_live_ends_and_results_tell_each_test() {
    let ids = ["test_two.py::test_passes", "test_two.py::test_fails"];
    let ran = run_batch(
        "test_two.py",
        "def test_passes():\n    pass\n\n\ndef test_fails():\n    assert 1 == 2, 'one is not two'\n",
        &ids,
    );

    assert_eq!(ran.exit.code, Some(1), "{:?}", ran.plan.command.display());
    let ends: Vec<(&str, Outcome)> = (ran.live.iter())
        .filter_map(|event| match event {
            LiveEvent::Finished { id, outcome, .. } => Some((id.as_str(), *outcome)),
            _ => None,
        })
        .collect();
    assert_eq!(ends, [(ids[0], Outcome::Passed), (ids[1], Outcome::Failed)]);
    let failed = (ran.results.iter())
        .find(|result| result.id == ids[1])
        .expect("a result for the failing test");
    assert_eq!(failed.outcome, Outcome::Failed);
    assert!(failed
        .message
        .as_deref()
        .unwrap()
        .contains("one is not two"));
    assert_eq!(ran.results.len(), 2);
}

#[test]
fn a_passing_tests_duration_is_its_setup_call_and_teardown_together() {
    let id = "test_slow.py::test_waits";
    let ran = run_batch(
        "test_slow.py",
        "import time\n\nimport pytest\n\n\n\
         @pytest.fixture\ndef slow_on_both_ends():\n    time.sleep(0.2)\n    yield\n    time.sleep(0.2)\n\n\n\
         def test_waits(slow_on_both_ends):\n    time.sleep(0.1)\n",
        &[id],
    );

    assert_eq!(ran.exit.code, Some(0), "{:?}", ran.plan.command.display());
    let [result] = &ran.results[..] else {
        panic!("one result, not {:?}", ran.results)
    };
    assert_eq!((result.id.as_str(), result.outcome), (id, Outcome::Passed));
    let duration = result.duration_ms.expect("a duration");
    assert!((500..2000).contains(&duration), "{duration} ms");
}
