//! Slow clients cannot starve the others: hundreds of connections that
//! send half a request head and stall are evicted by the head timeout, the
//! connection cap keeps the process inside its file limit, and a real
//! client still gets `/healthz` at once.
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
    if let Err(err) = App::new(settings).serve().await {
        panic!("the server stopped: {err}");
    }
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

#[test]
fn slow_clients_cannot_starve_the_others() {
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
    let _server = Server(child);
    let started = Instant::now();
    while healthz(address, Duration::from_secs(1)).is_none() {
        assert!(started.elapsed() < Duration::from_secs(60), "the server did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }

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
