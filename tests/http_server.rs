//! A real HTTP/1.1 server on loopback for the download tests, plain or over
//! TLS. Each route serves a body, honours `Range` when asked to, and
//! misbehaves on cue: a queue of faults is played one per request before it
//! serves normally.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One way a request goes wrong.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and a short body.
    Status(u16),
    /// Announce the whole body, send this many bytes, close the connection.
    Truncate(usize),
    /// Send the headers, then wait this long before the body.
    Stall(Duration),
    /// Send a body of no announced length that never ends: bytes until the
    /// client hangs up.
    Endless,
    /// The same, a kilobyte at each interval: a transfer that never stalls,
    /// never ends, and fills no disk.
    Trickle(Duration),
}

/// What a route serves.
#[derive(Debug, Clone)]
enum Body {
    Bytes(Arc<Vec<u8>>),
    /// Sent from the file by the kernel (`sendfile`), for large benchmarks.
    File(Arc<std::path::PathBuf>, usize),
}

impl Default for Body {
    fn default() -> Self {
        Body::Bytes(Arc::default())
    }
}

impl Body {
    fn len(&self) -> usize {
        match self {
            Body::Bytes(bytes) => bytes.len(),
            Body::File(_, len) => *len,
        }
    }

    /// Writes bytes `start..end` to `stream`.
    fn send<W: Write>(&self, stream: &mut W, start: usize, end: usize) -> std::io::Result<()> {
        match self {
            Body::Bytes(bytes) => stream.write_all(&bytes[start..end]),
            Body::File(path, _) => {
                use std::io::Seek;
                let mut file = std::fs::File::open(path.as_path())?;
                file.seek(std::io::SeekFrom::Start(start as u64))?;
                std::io::copy(&mut file.take((end - start) as u64), stream).map(drop)
            }
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Route {
    body: Body,
    ranges: bool,
    etag: Option<String>,
    faults: VecDeque<Fault>,
}

impl Route {
    pub fn new(body: Vec<u8>) -> Self {
        Self {
            body: Body::Bytes(Arc::new(body)),
            ..Self::default()
        }
    }

    /// Serves a file's bytes, read as each request comes.
    pub fn file(path: &std::path::Path) -> std::io::Result<Self> {
        let len = std::fs::metadata(path)?.len() as usize;
        Ok(Self {
            body: Body::File(Arc::new(path.to_path_buf()), len),
            ..Self::default()
        })
    }

    /// Serve `Range: bytes=N-` requests with 206, and send an `ETag`.
    pub fn with_ranges(mut self) -> Self {
        self.ranges = true;
        self.etag = Some(format!("\"{}\"", self.body.len()));
        self
    }

    pub fn then(mut self, fault: Fault) -> Self {
        self.faults.push_back(fault);
        self
    }
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Without the query: what routes are chosen by.
    pub path: String,
    pub query: Option<String>,
    pub range: Option<String>,
    pub if_range: Option<String>,
    pub authorization: Option<String>,
}

/// A certificate authority made for one test, and a certificate it signed
/// for 127.0.0.1.
pub struct TestCa {
    /// The authority's certificate, PEM: what a client must trust.
    pub ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

impl TestCa {
    pub fn new() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &ca)
            .unwrap();
        let key = rustls::pki_types::PrivatePkcs8KeyDer::from(leaf_key.serialize_der());
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key.into())
        .unwrap();
        Self {
            ca_pem: ca.pem(),
            server: Arc::new(server),
        }
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

/// A connection the server answers on: plain TCP, or TLS over it.
trait Connection: Read + Write {
    /// Ends the response; `cut` drops the connection without a clean close.
    fn close(&mut self, cut: bool);
}

impl Connection for TcpStream {
    fn close(&mut self, cut: bool) {
        let _ = self.flush();
        let _ = self.shutdown(if cut { Shutdown::Both } else { Shutdown::Write });
    }
}

impl Connection for rustls::StreamOwned<rustls::ServerConnection, TcpStream> {
    fn close(&mut self, cut: bool) {
        if !cut {
            self.conn.send_close_notify();
        }
        let _ = self.flush();
        self.sock.close(cut);
    }
}

pub struct TestServer {
    port: u16,
    tls: bool,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl TestServer {
    pub fn start() -> Self {
        Self::listen(None)
    }

    /// An https server whose certificate `ca` signed.
    pub fn start_tls(ca: &TestCa) -> Self {
        Self::listen(Some(ca.server.clone()))
    }

    fn listen(tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("loopback is available");
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let routes: Arc<Mutex<HashMap<String, Route>>> = Arc::default();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let (routes, seen, stop) = (routes.clone(), seen.clone(), stop.clone());
            let tls = tls.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let (routes, seen) = (routes.clone(), seen.clone());
                            stream.set_nonblocking(false).unwrap();
                            let tls = tls.clone();
                            std::thread::spawn(move || match tls {
                                None => serve(stream, &routes, &seen),
                                Some(config) => {
                                    let connection = rustls::ServerConnection::new(config).unwrap();
                                    let stream = rustls::StreamOwned::new(connection, stream);
                                    serve(stream, &routes, &seen)
                                }
                            });
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        Self {
            port,
            tls: tls.is_some(),
            routes,
            seen,
            stop,
            accept: Some(accept),
        }
    }

    pub fn route(&self, path: &str, route: Route) {
        self.routes.lock().unwrap().insert(path.to_owned(), route);
    }

    /// Serves until the process ends.
    pub fn serve_forever(self) -> ! {
        loop {
            std::thread::park();
        }
    }

    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}{path}", self.port)
    }

    /// The requests made for `path`, in order.
    pub fn seen(&self, path: &str) -> Vec<Seen> {
        let seen = self.seen.lock().unwrap();
        seen.iter().filter(|s| s.path == path).cloned().collect()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn serve<C: Connection>(
    mut stream: C,
    routes: &Mutex<HashMap<String, Route>>,
    seen: &Mutex<Vec<Seen>>,
) {
    // A GET has no body: the reader holds nothing past the head when dropped.
    let mut reader = BufReader::new(&mut stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("/");
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
        None => (target.to_owned(), None),
    };
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    drop(reader);
    let request = Seen {
        path: path.clone(),
        query,
        range: headers.get("range").cloned(),
        if_range: headers.get("if-range").cloned(),
        authorization: headers.get("authorization").cloned(),
    };
    seen.lock().unwrap().push(request.clone());
    let (route, fault) = {
        let mut routes = routes.lock().unwrap();
        match routes.get_mut(&path) {
            Some(route) => {
                let fault = route.faults.pop_front();
                (Some(route.clone()), fault)
            }
            None => (None, None),
        }
    };
    let Some(route) = route else {
        respond(&mut stream, 404, &[], b"not found");
        return;
    };
    let body = &route.body;
    let start = match (&request.range, route.ranges) {
        (Some(range), true) if request.if_range.is_none() || request.if_range == route.etag => {
            range
                .strip_prefix("bytes=")
                .and_then(|r| r.strip_suffix('-'))
                .and_then(|n| n.parse::<usize>().ok())
        }
        _ => None,
    };
    let mut extra: Vec<(&str, String)> = Vec::new();
    if let Some(etag) = &route.etag {
        extra.push(("ETag", etag.clone()));
        extra.push(("Accept-Ranges", "bytes".into()));
    }
    let end = body.len();
    let (status, start) = match start {
        Some(start) if start >= end => {
            extra.push(("Content-Range", format!("bytes */{end}")));
            respond(&mut stream, 416, &extra, b"");
            return;
        }
        Some(start) => {
            extra.push(("Content-Range", format!("bytes {start}-{}/{end}", end - 1)));
            (206, start)
        }
        None => (200, 0),
    };
    let length = end - start;
    if let Some(Fault::Status(code)) = fault {
        respond(&mut stream, code, &[], b"injected failure");
        return;
    }
    match fault {
        Some(Fault::Endless) => return send_endlessly(&mut stream, 64 * 1024, Duration::ZERO),
        Some(Fault::Trickle(every)) => return send_endlessly(&mut stream, 1024, every),
        _ => {}
    }
    if write_head(&mut stream, status, &extra, length).is_err() {
        return;
    }
    match fault {
        Some(Fault::Truncate(sent)) => {
            let _ = body.send(&mut stream, start, start + sent.min(length));
            stream.close(true);
        }
        Some(Fault::Stall(wait)) => {
            std::thread::sleep(wait);
            let _ = body.send(&mut stream, start, end);
            stream.close(false);
        }
        _ => {
            let _ = body.send(&mut stream, start, end);
            stream.close(false);
        }
    }
}

fn write_head(
    stream: &mut impl Write,
    status: u16,
    extra: &[(&str, String)],
    length: usize,
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Length: {length}\r\nConnection: close\r\n",
        reason(status)
    );
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())
}

/// A 200 whose body has no length and no end: `chunk` bytes at a time,
/// `pause` apart, until the client hangs up.
fn send_endlessly(stream: &mut impl Connection, chunk: usize, pause: Duration) {
    let head = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
    let chunk = vec![b'x'; chunk];
    let mut sent = stream.write_all(head.as_bytes());
    while sent.is_ok() {
        std::thread::sleep(pause);
        sent = stream.write_all(&chunk);
    }
    stream.close(true);
}

fn respond(stream: &mut impl Connection, status: u16, extra: &[(&str, String)], body: &[u8]) {
    if write_head(stream, status, extra, body.len()).is_ok() {
        let _ = stream.write_all(body);
    }
    stream.close(false);
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        403 => "Forbidden",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
