//! pytest's names for a test: the node id, and the `classname.name` its JUnit
//! file uses (pytest derives the latter from the former; so do we).

/// `tests/unit/test_a.py::TestC::test_m[x::y]` → `tests.unit.test_a.TestC.test_m[x::y]`:
/// the file path dotted without `.py`, then the `::` parts, parameters kept whole.
pub fn qualified_name(node_id: &str) -> String {
    let (path, params) = match node_id.find('[') {
        Some(open) => node_id.split_at(open),
        None => (node_id, ""),
    };
    // Made in one string: every test collected is named so.
    let mut parts = path.split("::");
    let file = parts.next().unwrap_or_default();
    let module = file.strip_suffix(".py").unwrap_or(file);
    let mut name = String::with_capacity(node_id.len());
    for (index, directory) in module.split('/').enumerate() {
        if index > 0 {
            name.push('.');
        }
        name.push_str(directory);
    }
    for part in parts {
        name.push('.');
        name.push_str(part);
    }
    name.push_str(params);
    name
}

/// The file part of a node id.
pub fn file_of(node_id: &str) -> &str {
    node_id.split("::").next().unwrap_or(node_id)
}

/// A short, stable hash of a text, to name a directory after a file's content.
pub fn short_hash(text: &str) -> String {
    // FNV-1a: tiny, stable across releases, and enough to tell two versions apart.
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names_follow_pytest_junit_classnames() {
        assert_eq!(qualified_name("test_a.py::test_x"), "test_a.test_x");
        assert_eq!(
            qualified_name("tests/unit/test_a.py::TestC::test_m[a.py::b/c]"),
            "tests.unit.test_a.TestC.test_m[a.py::b/c]"
        );
        assert_eq!(qualified_name("pkg/test_b.pyx::t"), "pkg.test_b.pyx.t");
        assert_eq!(qualified_name("test_c.py"), "test_c");
        assert_eq!(file_of("tests/test_a.py::T::m"), "tests/test_a.py");
    }

    #[test]
    fn hashes_are_stable() {
        assert_eq!(short_hash(""), "cbf29ce484222325");
        assert_ne!(short_hash("a"), short_hash("b"));
    }
}
