//! A tiny library with tests that pass, fail and are ignored.

/// Adds two numbers.
pub fn add(a: i64, b: i64) -> i64 {
    a + b
}

/// Parses a port number.
pub fn parse_port(text: &str) -> Option<u16> {
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_small_numbers() {
        assert_eq!(add(2, 2), 4);
    }

    #[test]
    fn adds_negative_numbers() {
        assert_eq!(add(-2, 5), 3);
    }

    #[test]
    fn parses_a_port() {
        assert_eq!(parse_port(" 8080 "), Some(8080));
    }

    #[test]
    fn rejects_a_port_out_of_range() {
        // Fails on purpose: the demo shows what a failure looks like.
        assert_eq!(parse_port("70000"), Some(4464), "ports stop at 65535");
    }

    #[test]
    #[ignore = "needs a network"]
    fn reaches_the_network() {}
}
