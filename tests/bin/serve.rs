//! Serves one file over HTTP on loopback, with ranges, for the download
//! benchmark: `serve FILE` prints the file's URL, then serves until killed.

use proctor_e2e::http_server::{Route, TestServer};

fn main() {
    let path = std::env::args_os()
        .nth(1)
        .map(std::path::PathBuf::from)
        .expect("usage: serve FILE");
    let route = Route::file(&path)
        .unwrap_or_else(|e| panic!("cannot serve {}: {e}", path.display()))
        .with_ranges();
    let server = TestServer::start();
    server.route("/payload", route);
    println!("{}", server.url("/payload"));
    server.serve_forever()
}
