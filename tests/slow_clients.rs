//! Slow clients cannot starve the others: hundreds of connections that
//! send half a request head and stall are evicted by the head timeout, the
//! connection cap keeps the process inside its file limit, and a real
//! client still gets `/healthz` at once. Each wait a client can impose is
//! bounded (a head trickled byte by byte, a stalled body, an idle
//! keep-alive, a response nobody reads), and a handler that takes longer
//! than every timeout is not cut. Heads too large or malformed are refused
//! without disturbing the others.
//!
//! The server is a real process on a loopback port (this test binary run
//! again, `server_process` only), with a file limit of 256 so that a server
//! without a cap would run out of descriptors.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fastsaas::prelude::*;
use fastsaas::{Settings, Uuid};

const SERVER_BIND: &str = "FASTSAAS_SLOW_TEST_BIND";

/// The server: the app on the address it is given, until it is killed.
#[tokio::test]
#[ignore = "the server process of `slow_clients_cannot_starve_the_others`"]
async fn server_process() {
    let Ok(bind) = std::env::var(SERVER_BIND) else {
        return;
    };
    let database = std::env::temp_dir().join(format!("fastsaas-slow-{}.db", Uuid::new_v4()));
    let settings = Settings {
        bind,
        database_url: format!("sqlite://{}?mode=rwc", database.display()),
        max_connections: 100,
        header_timeout_secs: 1,
        idle_timeout_secs: 2,
        ..Settings::default()
    };
    let app = App::new(settings).route(Route::get("/slow", slow)).route(Route::get("/upgrade", upgrade));
    if let Err(err) = app.serve().await {
        panic!("the server stopped: {err}");
    }
}

/// Longer than the header timeout and the idle timeout together.
const SLOW_HANDLER: Duration = Duration::from_millis(3500);

/// A handler that takes its time, as a long report or a call to a slow
/// service does.
async fn slow() -> &'static str {
    tokio::time::sleep(SLOW_HANDLER).await;
    "done"
}

/// How long an upgraded connection is held by its handler.
const UPGRADED_FOR: Duration = Duration::from_secs(5);

/// Takes the connection over, as a WebSocket handler does, and holds it.
async fn upgrade(request: axum::extract::Request) -> axum::response::Response {
    let upgrading = hyper::upgrade::on(request);
    tokio::spawn(async move {
        if let Ok(upgraded) = upgrading.await {
            tokio::time::sleep(UPGRADED_FOR).await;
            drop(upgraded);
        }
    });
    let mut response = axum::response::Response::new(axum::body::Body::empty());
    *response.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
    response.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("upgrade"));
    response.headers_mut().insert(http::header::UPGRADE, http::HeaderValue::from_static("test"));
    response
}

/// A free loopback port.
fn free_address() -> SocketAddr {
    let probe = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|err| panic!("a port: {err}"));
    probe.local_addr().unwrap_or_else(|err| panic!("a port: {err}"))
}

/// `GET /healthz` over a new connection, answered within `patience`.
fn healthz(address: SocketAddr, patience: Duration) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&address, patience).ok()?;
    stream.set_read_timeout(Some(patience)).ok()?;
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The server process, listening on its address.
fn start_server() -> (Server, SocketAddr) {
    let address = free_address();
    let exe = std::env::current_exe().unwrap_or_else(|err| panic!("the test binary: {err}"));
    let command = format!("ulimit -n 256 && exec \"{}\" --exact server_process --ignored", exe.display());
    let child = Command::new("sh")
        .args(["-c", &command])
        .env(SERVER_BIND, address.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| panic!("the server process: {err}"));
    let server = Server(child);
    let started = Instant::now();
    while healthz(address, Duration::from_secs(1)).is_none() {
        assert!(started.elapsed() < Duration::from_secs(60), "the server did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    (server, address)
}

#[test]
fn slow_clients_cannot_starve_the_others() {
    let (_server, address) = start_server();

    // 400 clients send half a head and stall, holding their sockets.
    let slow: Vec<TcpStream> = (0..400)
        .filter_map(|_| {
            let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(1)).ok()?;
            stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: te").ok()?;
            Some(stream)
        })
        .collect();
    assert!(slow.len() > 300, "the slow clients connected ({})", slow.len());

    let asked = Instant::now();
    let answer = healthz(address, Duration::from_secs(10));
    let waited = asked.elapsed();
    assert!(answer.as_deref().is_some_and(|a| a.starts_with("HTTP/1.1 200")), "{answer:?}");
    assert!(waited < Duration::from_secs(8), "answered in {waited:?}");
    drop(slow);
}

/// What a client saw of a connection it kept open.
#[derive(Debug)]
struct Seen {
    /// Everything the server sent.
    received: Vec<u8>,
    /// When the server closed the connection, counted from `since`.
    closed_after: Option<Duration>,
}

/// Reads what `stream` brings for at most `patience`, doing `between`
/// every 200 ms (a trickling client's next byte); stops when the server
/// closes the connection.
fn watch_connection(stream: &mut TcpStream, patience: Duration, mut between: impl FnMut(&mut TcpStream)) -> Seen {
    let since = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 64 * 1024];
    stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap_or_else(|err| panic!("timeout: {err}"));
    while since.elapsed() < patience {
        match stream.read(&mut buffer) {
            Ok(0) => return Seen { received, closed_after: Some(since.elapsed()) },
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(err) if matches!(err.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                between(stream);
            }
            // A reset closes as surely as a FIN.
            Err(_) => return Seen { received, closed_after: Some(since.elapsed()) },
        }
    }
    Seen { received, closed_after: None }
}

fn connect(address: SocketAddr) -> TcpStream {
    TcpStream::connect_timeout(&address, Duration::from_secs(5)).unwrap_or_else(|err| panic!("connect: {err}"))
}

/// A new connection that has sent `bytes`.
fn sending(address: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut stream = connect(address);
    stream.write_all(bytes).unwrap_or_else(|err| panic!("write: {err}"));
    stream
}

/// The server closed the connection `seen` no sooner than `earliest` and
/// before `latest`.
fn closed_between(seen: &Seen, earliest: Duration, latest: Duration, what: &str) {
    let closed = seen.closed_after.unwrap_or_else(|| panic!("{what}: never closed ({seen:?})"));
    assert!(closed >= earliest, "{what}: closed after {closed:?}, before {earliest:?}");
    assert!(closed < latest, "{what}: closed after {closed:?}, {latest:?} or later");
}

#[test]
fn a_head_trickled_byte_by_byte_is_cut_at_the_header_timeout() {
    let (_server, address) = start_server();
    let mut stream = connect(address);
    // Each byte keeps the socket busy; only the head's deadline can end it.
    let head = b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut next = 0;
    let seen = watch_connection(&mut stream, Duration::from_secs(6), |stream| {
        if next < head.len() {
            let _ = stream.write_all(&head[next..=next]);
            next += 1;
        }
    });
    closed_between(
        &seen,
        Duration::from_millis(900),
        Duration::from_secs(3),
        &format!("a head trickled ({next} bytes)"),
    );
    assert!(!String::from_utf8_lossy(&seen.received).contains("200 OK"), "a trickled head was served");
}

#[test]
fn a_stalled_body_is_cut_at_the_idle_timeout() {
    let (_server, address) = start_server();
    let mut stream = sending(
        address,
        b"POST /users HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"email\"",
    );
    let seen = watch_connection(&mut stream, Duration::from_secs(8), |_| {});
    // The idle timeout (2 s), not the header timeout (1 s): the head arrived.
    closed_between(&seen, Duration::from_millis(1800), Duration::from_secs(5), "a stalled body");
}

#[test]
fn an_idle_keep_alive_connection_is_closed_at_the_header_timeout() {
    let (_server, address) = start_server();
    let mut stream = sending(address, b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n");
    let seen = watch_connection(&mut stream, Duration::from_secs(6), |_| {});
    assert!(String::from_utf8_lossy(&seen.received).starts_with("HTTP/1.1 200"), "{seen:?}");
    closed_between(&seen, Duration::from_millis(900), Duration::from_secs(3), "an idle keep-alive connection");
}

#[test]
fn a_handler_slower_than_every_timeout_still_answers() {
    let (_server, address) = start_server();
    let mut stream = sending(address, b"GET /slow HTTP/1.1\r\nHost: test\r\n\r\n");
    let seen = watch_connection(&mut stream, SLOW_HANDLER + Duration::from_secs(5), |_| {});
    let answer = String::from_utf8_lossy(&seen.received);
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("done"), "{seen:?}");
    // And the connection lives on for the next request until its own timeout.
    assert!(seen.closed_after.is_some_and(|closed| closed > SLOW_HANDLER), "{seen:?}");
}

#[test]
fn a_client_that_reads_nothing_is_cut_at_the_idle_timeout() {
    let (_server, address) = start_server();
    // Far more answers than the socket buffers of both ends hold.
    let requests = 3000;
    let pipelined = "GET /openapi.json HTTP/1.1\r\nHost: test\r\n\r\n".repeat(requests);
    let mut stream = sending(address, pipelined.as_bytes());
    std::thread::sleep(Duration::from_secs(5));
    let seen = watch_connection(&mut stream, Duration::from_secs(20), |_| {});
    let answered = String::from_utf8_lossy(&seen.received).matches("HTTP/1.1 200").count();
    assert!(seen.closed_after.is_some(), "the connection was never closed ({answered} answers read)");
    assert!(answered < requests, "every answer was sent to a client that read nothing for 5 s");
}

#[test]
fn an_upgraded_connection_keeps_its_slot_until_it_closes() {
    let (_server, address) = start_server();
    // As many upgraded connections as the server may hold (100).
    let upgraded: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut stream = sending(
                address,
                b"GET /upgrade HTTP/1.1\r\nHost: test\r\nConnection: upgrade\r\nUpgrade: test\r\n\r\n",
            );
            let mut head = [0u8; 12];
            stream.read_exact(&mut head).unwrap_or_else(|err| panic!("the 101: {err}"));
            assert_eq!(&head, b"HTTP/1.1 101");
            stream
        })
        .collect();
    // Every slot is taken: a new client waits in the listen queue.
    assert_eq!(healthz(address, Duration::from_millis(1500)), None, "served past the connection cap");
    // Once the handlers let go, the slots come back.
    let answer = healthz(address, UPGRADED_FOR + Duration::from_secs(5));
    assert!(answer.as_deref().is_some_and(|a| a.starts_with("HTTP/1.1 200")), "{answer:?}");
    drop(upgraded);
}

/// What a client gets back for `bytes` sent on a new connection, which the
/// server must close within 5 s (it may close before all of `bytes` is
/// sent, so a failed write is no failure).
fn answer_to(address: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = connect(address);
    let _ = stream.write_all(bytes);
    let seen = watch_connection(&mut stream, Duration::from_secs(5), |_| {});
    let answer = String::from_utf8_lossy(&seen.received).into_owned();
    assert!(seen.closed_after.is_some(), "the connection stayed open after {answer:?}");
    answer
}

#[test]
fn a_head_of_a_megabyte_is_refused_and_others_are_served() {
    let (_server, address) = start_server();
    let mut head = b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Name: ".to_vec();
    head.extend(std::iter::repeat_n(b'a', 1024 * 1024));
    head.extend_from_slice(b"\r\n\r\n");
    let answer = answer_to(address, &head);
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 431"), "{answer}");
    let healthy = healthz(address, Duration::from_secs(2));
    assert!(healthy.as_deref().is_some_and(|a| a.starts_with("HTTP/1.1 200")), "{healthy:?}");
}

#[test]
fn a_nul_in_a_head_is_refused() {
    let (_server, address) = start_server();
    for head in [
        &b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Name: a\0b\r\n\r\n"[..],
        b"GET /heal\0thz HTTP/1.1\r\nHost: test\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHo\0st: test\r\n\r\n",
    ] {
        let answer = answer_to(address, head);
        assert!(answer.starts_with("HTTP/1.1 400"), "{:?}: {answer}", String::from_utf8_lossy(head));
    }
}
