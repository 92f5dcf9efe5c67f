//! One HTTP/1.1 exchange over a plain socket: enough to compare what the
//! two servers answer, without a client library.

use std::io::{Read, Write};
use std::net::TcpStream;

use http::StatusCode;

/// Sends `request` (with `Connection: close`) to 127.0.0.1:`port`; the
/// status and the body of the answer.
pub(crate) fn exchange(port: u16, request: &str) -> (StatusCode, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("receive");
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("a head");
    let head = String::from_utf8_lossy(&answer[..split]).to_ascii_lowercase();
    let status = head.split_whitespace().nth(1).and_then(|code| code.parse().ok()).expect("a status line");
    let body = answer[split + 4..].to_vec();
    let body = if head.contains("transfer-encoding: chunked") { unchunk(&body) } else { body };
    (StatusCode::from_u16(status).expect("a status"), body)
}

/// The payload of a chunked body.
fn unchunk(mut body: &[u8]) -> Vec<u8> {
    let mut payload = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").expect("a chunk size");
        let size = usize::from_str_radix(String::from_utf8_lossy(&body[..line_end]).trim(), 16).expect("hex");
        if size == 0 {
            return payload;
        }
        payload.extend_from_slice(&body[line_end + 2..line_end + 2 + size]);
        body = &body[line_end + 4 + size..];
    }
}
