//! An integration test target: a second test binary in the demo.

#[test]
fn adds_through_the_public_api() {
    assert_eq!(demo::add(40, 2), 42);
}

#[test]
fn prints_and_passes() {
    println!("output of a passing test is kept in its attempt directory");
}
