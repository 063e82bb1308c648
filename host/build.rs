//! Links the `proctor` program as a position-dependent executable.
//!
//! A position-independent one is relocated by the dynamic loader each time
//! it starts: 25,000 relocations and the pages they write, 0.45 ms of the
//! 1.7 ms of CPU that `proctor --version` takes, paid by every run, by its
//! plugin processes, and by each start `proctor bisect` makes. The code is
//! still compiled position-independent; only the program's own load address
//! is fixed, as Go's programs have it by default. Its libraries, heap,
//! stacks and the plugins it maps are placed at random as before.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
