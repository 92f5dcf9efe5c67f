//! Notifications (API.md, "Agents, tasks, notifications"): `POST /notify`,
//! the caller's list, marking read, and `GET /ws` with its replay, its seam
//! under concurrent sends, its resync, its limits and, on PostgreSQL, its
//! delivery across replicas. The sockets are real connections to the
//! server `App::serve` runs (`TestClient::listen`).

use std::net::SocketAddr;
use std::time::Duration;

use fastsaas::prelude::*;
use fastsaas::serde_json::{Value, json};
use fastsaas::testing::{TestClient, TestUser, test_redis_url};
use fastsaas::{Secret, Settings};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

fn settings() -> Settings {
    Settings {
        admin_email: Some("root@example.com".into()),
        admin_password: Some(Secret("root password".into())),
        // Replicas accept each other's tokens.
        jwt_secret: Some(Secret("the notification tests' own secret, 32+ bytes".into())),
        ..Settings::default()
    }
}

async fn start(settings: Settings) -> TestClient {
    TestClient::start(App::new(settings)).await
}

async fn notify(client: &TestClient, sender: &TestUser, to: Uuid, message: &str) -> Uuid {
    let sent =
        client.post("/notify").bearer(&sender.token).json(&json!({"user_id": to, "message": message})).send().await;
    sent.assert_status(202);
    let id = sent.json::<Value>()["id"].as_str().and_then(|id| id.parse().ok());
    id.unwrap_or_else(|| panic!("no id in {}", sent.text()))
}

type Socket = WebSocketStream<TcpStream>;

/// Opens `/ws{query}`, with `bearer` as a header if given.
async fn open(address: SocketAddr, query: &str, bearer: Option<&str>) -> Result<Socket, WsError> {
    let stream = TcpStream::connect(address).await.unwrap_or_else(|err| panic!("connect: {err}"));
    let mut request = format!("ws://{address}/ws{query}").into_client_request()?;
    if let Some(token) = bearer {
        let value = format!("Bearer {token}").parse().unwrap_or_else(|err| panic!("a header: {err}"));
        request.headers_mut().insert("authorization", value);
    }
    tokio_tungstenite::client_async(request, stream).await.map(|(socket, _)| socket)
}

async fn open_ok(address: SocketAddr, query: &str) -> Socket {
    open(address, query, None).await.unwrap_or_else(|err| panic!("/ws{query}: {err}"))
}

/// The status a refused upgrade was answered with.
async fn refused(address: SocketAddr, query: &str, bearer: Option<&str>) -> u16 {
    match open(address, query, bearer).await {
        Err(WsError::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("/ws{query}: not an HTTP refusal: {other}"),
        Ok(_) => panic!("/ws{query}: upgraded"),
    }
}

/// What the socket says next (pings aside): a frame's JSON, or its close.
#[derive(Debug)]
enum Heard {
    Frame(Value),
    Closed(Option<u16>),
}

async fn next(socket: &mut Socket) -> Heard {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next()).await;
        match message {
            Err(_) => panic!("nothing from the socket in 10 s"),
            Ok(None) | Ok(Some(Err(_))) => return Heard::Closed(None),
            Ok(Some(Ok(Message::Text(text)))) => {
                let frame = fastsaas::serde_json::from_str(text.as_str()).unwrap_or_else(|err| panic!("{err}: {text}"));
                return Heard::Frame(frame);
            }
            Ok(Some(Ok(Message::Close(close)))) => return Heard::Closed(close.map(|frame| u16::from(frame.code))),
            Ok(Some(Ok(_))) => {}
        }
    }
}

async fn next_frame(socket: &mut Socket) -> Value {
    match next(socket).await {
        Heard::Frame(frame) => frame,
        Heard::Closed(code) => panic!("closed ({code:?}) while a frame was expected"),
    }
}

/// Nothing arrives within a short while.
async fn quiet(socket: &mut Socket) {
    match tokio::time::timeout(Duration::from_millis(300), socket.next()).await {
        Err(_) => {}
        Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
        Ok(other) => panic!("expected nothing, got {other:?}"),
    }
}

fn seq(frame: &Value) -> i64 {
    frame["seq"].as_i64().unwrap_or_else(|| panic!("no seq in {frame}"))
}

#[tokio::test]
async fn notifications_are_sent_listed_and_marked_read_by_their_recipient_only() {
    let client = start(settings()).await;
    let ann = client.sign_up("ann@example.com").await;
    let bob = client.sign_up("bob@example.com").await;
    let root = client.sign_in("root@example.com", "root password").await;

    let first = notify(&client, &ann, ann.id, "to myself").await;
    // Others only by a superadmin; the recipient must be a user.
    client
        .post("/notify")
        .bearer(&ann.token)
        .json(&json!({"user_id": bob.id, "message": "hi"}))
        .send()
        .await
        .assert_status(403);
    let second = notify(&client, &root, ann.id, "from root").await;
    client
        .post("/notify")
        .bearer(&root.token)
        .json(&json!({"user_id": Uuid::new_v4(), "message": "nobody"}))
        .send()
        .await
        .assert_status(404);
    // Every bad field at once, each named.
    let bad = client
        .post("/notify")
        .bearer(&ann.token)
        .json(&json!({"user_id": ann.id, "message": "", "kind": "no spaces", "extra": 1}))
        .send()
        .await;
    bad.assert_status(400);
    let payload = json!({"user_id": ann.id, "message": "with a payload", "kind": "agent.done", "payload": {"task": 7}});
    client.post("/notify").bearer(&ann.token).json(&payload).send().await.assert_status(202);
    client
        .post("/notify")
        .json(&json!({"user_id": ann.id, "message": "x"}))
        .without_identity()
        .send()
        .await
        .assert_status(401);

    let page: Value = client.get("/notifications").bearer(&ann.token).send().await.json();
    assert_eq!(page["total"], 3, "{page}");
    let items = page["items"].as_array().cloned().unwrap_or_default();
    let messages: Vec<&str> = items.iter().filter_map(|item| item["message"].as_str()).collect();
    assert_eq!(messages, ["to myself", "from root", "with a payload"]);
    assert_eq!(items[0]["id"], json!(first));
    assert_eq!(items[0]["kind"], "message");
    assert_eq!(items[0]["payload"], json!({}));
    assert_eq!(items[2]["payload"], json!({"task": 7}));
    assert_eq!(items.iter().map(seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(items.iter().all(|item| item["read_at"].is_null()));

    // Bob sees none of Ann's, and cannot mark hers read.
    let bobs: Value = client.get("/notifications").bearer(&bob.token).send().await.json();
    assert_eq!(bobs["total"], 0);
    client.post(&format!("/notifications/{second}/read")).bearer(&bob.token).send().await.assert_status(404);

    client.post(&format!("/notifications/{second}/read")).bearer(&ann.token).send().await.assert_status(204);
    let unread: Value = client.get("/notifications?unread=true").bearer(&ann.token).send().await.json();
    assert_eq!(unread["total"], 2, "{unread}");
    let read: Value = client.get("/notifications?sort=-seq").bearer(&ann.token).send().await.json();
    let read_at = read["items"][1]["read_at"].clone();
    assert!(read_at.is_string(), "{read}");
    // Marking again keeps the first time.
    client.post(&format!("/notifications/{second}/read")).bearer(&ann.token).send().await.assert_status(204);
    let again: Value = client.get("/notifications?sort=-seq").bearer(&ann.token).send().await.json();
    assert_eq!(again["items"][1]["read_at"], read_at);
    client.post(&format!("/notifications/{}/read", Uuid::new_v4())).bearer(&ann.token).send().await.assert_status(404);

    // Lists are paged like every list; a cursor of the unread list is not one of the whole list.
    let first_page: Value = client.get("/notifications?unread=true&page_size=1").bearer(&ann.token).send().await.json();
    let cursor = first_page["next"].as_str().unwrap_or_else(|| panic!("a next cursor: {first_page}"));
    let after: Value = client
        .get(&format!("/notifications?unread=true&page_size=1&after={cursor}"))
        .bearer(&ann.token)
        .send()
        .await
        .json();
    assert_eq!(after["items"][0]["message"], "with a payload");
    client
        .get(&format!("/notifications?page_size=1&after={cursor}"))
        .bearer(&ann.token)
        .send()
        .await
        .assert_status(400);
    client.get("/notifications?unread=yes").bearer(&ann.token).send().await.assert_status(400);
    client.get("/notifications?unread=true&unread=false").bearer(&ann.token).send().await.assert_status(400);
}

#[tokio::test]
async fn a_recipients_numbers_have_no_gap_and_no_repeat_under_concurrent_senders() {
    let client = start(settings()).await;
    let ann = client.sign_up("ann@example.com").await;
    let sends = (0..40).map(|n| {
        let (client, ann) = (&client, &ann);
        async move { notify(client, ann, ann.id, &format!("n{n}")).await }
    });
    futures_util::future::join_all(sends).await;
    let page: Value = client.get("/notifications?page_size=100&sort=seq").bearer(&ann.token).send().await.json();
    let numbers: Vec<i64> = page["items"].as_array().into_iter().flatten().map(seq).collect();
    assert_eq!(numbers, (1..=40).collect::<Vec<_>>());
}

#[tokio::test]
async fn only_the_newest_notifications_are_kept() {
    let client = start(Settings { notifications_kept: 3, ..settings() }).await;
    let ann = client.sign_up("ann@example.com").await;
    for n in 0..5 {
        notify(&client, &ann, ann.id, &format!("n{n}")).await;
    }
    let page: Value = client.get("/notifications").bearer(&ann.token).send().await.json();
    let messages: Vec<&str> =
        page["items"].as_array().into_iter().flatten().filter_map(|i| i["message"].as_str()).collect();
    assert_eq!(messages, ["n2", "n3", "n4"]);
}

#[tokio::test]
async fn the_socket_is_authenticated_before_the_upgrade() {
    let client = start(settings()).await;
    let ann = client.sign_up("ann@example.com").await;
    let address = client.listen().await;
    assert_eq!(refused(address, "", None).await, 401);
    assert_eq!(refused(address, "?token=not-a-token", None).await, 401);
    assert_eq!(refused(address, "", Some("not-a-token")).await, 401);
    assert_eq!(refused(address, &format!("?token={}&after=7", ann.token), None).await, 400);
    // Credentials come first: a bad query without them is a 401.
    assert_eq!(refused(address, "?after=7", None).await, 401);
    assert_eq!(refused(address, &format!("?token={}&other=1", ann.token), None).await, 400);
    assert_eq!(refused(address, &format!("?token={}", ann.token), Some(&ann.token)).await, 400);
    // A plain GET with good credentials is not an upgrade.
    client.get("/ws").bearer(&ann.token).send().await.assert_status(400);
    // The header works as well as the query string.
    let socket = open(address, "", Some(&ann.token)).await;
    assert!(socket.is_ok(), "{socket:?}");
}

#[tokio::test]
async fn a_socket_gets_live_notifications_and_a_reconnect_gets_exactly_what_it_missed() {
    let client = start(settings()).await;
    let ann = client.sign_up("ann@example.com").await;
    let bob = client.sign_up("bob@example.com").await;
    let address = client.listen().await;

    let mut socket = open_ok(address, &format!("?token={}", ann.token)).await;
    let mut bobs = open_ok(address, &format!("?token={}", bob.token)).await;
    let live = notify(&client, &ann, ann.id, "live").await;
    let frame = next_frame(&mut socket).await;
    assert_eq!(frame["id"], json!(live));
    assert_eq!(frame["message"], "live");
    assert_eq!(frame["kind"], "message");
    assert!(frame["created_at"].is_string() && frame["payload"].is_object(), "{frame}");
    quiet(&mut bobs).await;
    drop(socket);

    let mut missed = Vec::new();
    for n in 0..100 {
        missed.push(notify(&client, &ann, ann.id, &format!("missed {n}")).await);
    }
    let mut socket = open_ok(address, &format!("?token={}&after={live}", ann.token)).await;
    for expected in &missed {
        assert_eq!(next_frame(&mut socket).await["id"], json!(expected));
    }
    quiet(&mut socket).await;
    let later = notify(&client, &ann, ann.id, "later").await;
    assert_eq!(next_frame(&mut socket).await["id"], json!(later));
}

#[tokio::test]
async fn the_seam_between_replay_and_live_has_no_gap_and_no_duplicate() {
    let client = start(settings()).await;
    let ann = client.sign_up("ann@example.com").await;
    let address = client.listen().await;
    let start_at = notify(&client, &ann, ann.id, "start").await;
    let mut last = 1;
    for round in 0..5 {
        // Senders race the socket's replay.
        let sends = async {
            let mut ids = Vec::new();
            for n in 0..30 {
                ids.push(notify(&client, &ann, ann.id, &format!("round {round} n{n}")).await);
            }
            ids
        };
        let connect = async {
            tokio::time::sleep(Duration::from_millis(5 * round)).await;
            open_ok(address, &format!("?token={}&after={start_at}", ann.token)).await
        };
        let (_, mut socket) = tokio::join!(sends, connect);
        last += 30;
        let mut numbers = Vec::new();
        while numbers.last() != Some(&last) {
            numbers.push(seq(&next_frame(&mut socket).await));
        }
        assert_eq!(numbers, (2..=last).collect::<Vec<_>>(), "round {round}");
        quiet(&mut socket).await;
    }
}

#[tokio::test]
async fn a_cursor_that_is_not_kept_or_not_ones_own_gets_a_resync_first() {
    let client = start(Settings { notifications_kept: 2, ..settings() }).await;
    let ann = client.sign_up("ann@example.com").await;
    let bob = client.sign_up("bob@example.com").await;
    let address = client.listen().await;
    let oldest = notify(&client, &ann, ann.id, "one").await;
    notify(&client, &ann, ann.id, "two").await;
    let mut newest = notify(&client, &ann, ann.id, "three").await;
    let bobs = notify(&client, &bob, bob.id, "bob's").await;
    for after in [oldest, bobs, Uuid::new_v4()] {
        let mut socket = open_ok(address, &format!("?token={}&after={after}", ann.token)).await;
        let resync = next_frame(&mut socket).await;
        assert_eq!(resync["kind"], "resync", "{resync}");
        assert_eq!(resync["id"], json!(newest), "continue from the newest");
        quiet(&mut socket).await;
        newest = notify(&client, &ann, ann.id, "four").await;
        assert_eq!(next_frame(&mut socket).await["id"], json!(newest));
    }
}

#[tokio::test]
async fn a_user_holds_a_bounded_number_of_sockets() {
    let client = start(Settings { ws_per_principal: 2, ..settings() }).await;
    let ann = client.sign_up("ann@example.com").await;
    let bob = client.sign_up("bob@example.com").await;
    let address = client.listen().await;
    let first = open_ok(address, &format!("?token={}", ann.token)).await;
    let _second = open_ok(address, &format!("?token={}", ann.token)).await;
    assert_eq!(refused(address, &format!("?token={}", ann.token), None).await, 429);
    // Others are not affected; a closed socket frees its place.
    let _bobs = open_ok(address, &format!("?token={}", bob.token)).await;
    drop(first);
    let started = std::time::Instant::now();
    while open(address, &format!("?token={}", ann.token), None).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(5), "the closed socket's place was not freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_socket_closes_with_4001_when_its_token_expires() {
    let client = start(Settings { access_token_ttl_secs: 2, ..settings() }).await;
    let ann = client.sign_up("ann@example.com").await;
    let address = client.listen().await;
    let mut socket = open_ok(address, &format!("?token={}", ann.token)).await;
    match next(&mut socket).await {
        Heard::Closed(code) => assert_eq!(code, Some(4001)),
        Heard::Frame(frame) => panic!("a frame instead of the close: {frame}"),
    }
}

#[tokio::test]
async fn a_client_that_stops_answering_pings_is_closed_with_4002() {
    let client = start(Settings { ws_ping_secs: 1, ..settings() }).await;
    let ann = client.sign_up("ann@example.com").await;
    let address = client.listen().await;
    let mut socket = open_ok(address, &format!("?token={}", ann.token)).await;
    // Not reading, the client answers no ping.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    match next(&mut socket).await {
        Heard::Closed(code) => assert_eq!(code, Some(4002)),
        Heard::Frame(frame) => panic!("a frame instead of the close: {frame}"),
    }
    // A client that reads (and so answers pings) stays.
    let mut reading = open_ok(address, &format!("?token={}", ann.token)).await;
    let until = tokio::time::Instant::now() + Duration::from_millis(3500);
    while tokio::time::Instant::now() < until {
        if let Ok(Some(Ok(Message::Close(close)))) = tokio::time::timeout_at(until, reading.next()).await {
            panic!("a reading client was closed: {close:?}");
        }
    }
    let id = notify(&client, &ann, ann.id, "still here").await;
    assert_eq!(next_frame(&mut reading).await["id"], json!(id));
    let _ = reading.send(Message::Close(None)).await;
}

#[tokio::test]
async fn frames_from_the_client_are_capped() {
    let client = start(settings()).await;
    let ann = client.sign_up("ann@example.com").await;
    let address = client.listen().await;
    let mut socket = open_ok(address, &format!("?token={}", ann.token)).await;
    let _ = socket.send(Message::text("x".repeat(64 * 1024))).await;
    match next(&mut socket).await {
        Heard::Closed(code) => assert!(code.is_none() || code == Some(u16::from(CloseCode::Size)), "{code:?}"),
        Heard::Frame(frame) => panic!("a frame instead of the close: {frame}"),
    }
    // The server goes on.
    let mut again = open_ok(address, &format!("?token={}", ann.token)).await;
    let id = notify(&client, &ann, ann.id, "after the big frame").await;
    assert_eq!(next_frame(&mut again).await["id"], json!(id));
}

#[tokio::test]
async fn on_postgresql_a_notification_sent_through_one_replica_reaches_a_socket_on_another() {
    let client = start(settings()).await;
    if !client.is_postgres() {
        return;
    }
    reaches_the_other_replica(client, settings()).await;
}

#[tokio::test]
async fn with_redis_a_notification_sent_through_one_replica_reaches_a_socket_on_another() {
    let Some(redis_url) = test_redis_url() else { return };
    // On SQLite too: two processes' worth of state on one file.
    let settings = Settings { redis_url: Some(redis_url), ..settings() };
    reaches_the_other_replica(start(settings.clone()).await, settings).await;
}

/// A notification sent through `client` reaches a socket on a replica
/// started with `settings`, and many in a burst arrive in order.
async fn reaches_the_other_replica(client: TestClient, settings: Settings) {
    let replica = client.replica(App::new(settings)).await;
    let ann = client.sign_up("ann@example.com").await;
    let address = replica.listen().await;
    let mut socket = open_ok(address, &format!("?token={}", ann.token)).await;
    let id = notify(&client, &ann, ann.id, "through the other replica").await;
    assert_eq!(next_frame(&mut socket).await["id"], json!(id));
    let mut sent = Vec::new();
    for n in 0..50 {
        sent.push(json!(notify(&client, &ann, ann.id, &format!("burst {n}")).await));
    }
    let mut heard = Vec::new();
    while heard.len() < sent.len() {
        heard.push(next_frame(&mut socket).await["id"].clone());
    }
    assert_eq!(heard, sent);
    quiet(&mut socket).await;
}

#[tokio::test]
async fn a_client_that_reads_too_slowly_is_dropped_and_stalls_no_one_else() {
    let client = start(Settings { idle_timeout_secs: 1, ..settings() }).await;
    let ann = client.sign_up("ann@example.com").await;
    let address = client.listen().await;
    let mut stalled = open_ok(address, &format!("?token={}", ann.token)).await;
    let mut reader = open_ok(address, &format!("?token={}", ann.token)).await;
    // 12 MB of frames (payloads near the 16 KiB cap): more than the kernel
    // buffers of a loopback connection hold.
    let big = "x".repeat(16 * 1024 - 64);
    let mut ids = Vec::new();
    for n in 0..800 {
        let body = json!({"user_id": ann.id, "message": format!("big {n}"), "payload": {"data": big}});
        let sent = client.post("/notify").bearer(&ann.token).json(&body).send().await;
        sent.assert_status(202);
        ids.push(sent.json::<Value>()["id"].clone());
        // The reading client keeps up.
        assert_eq!(next_frame(&mut reader).await["id"], ids[n]);
    }
    // The stalled client finds its connection closed after what the buffers held.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut received = 0;
    loop {
        match next(&mut stalled).await {
            Heard::Frame(_) => received += 1,
            Heard::Closed(code) => {
                assert!(code.is_none() || code == Some(4008), "{code:?}");
                break;
            }
        }
    }
    assert!(received < ids.len(), "all {received} frames arrived: the test did not fill the buffers");
    assert!(received > 0, "the buffers held no frame");
    // It reconnects with the last id it got and loses nothing.
    let last = ids[received - 1].as_str().unwrap_or_default().to_owned();
    let mut again = open_ok(address, &format!("?token={}&after={last}", ann.token)).await;
    for id in &ids[received..] {
        assert_eq!(&next_frame(&mut again).await["id"], id);
    }
}

#[tokio::test]
async fn payloads_are_capped_and_the_resync_kind_is_the_servers() {
    let client = start(settings()).await;
    let ann = client.sign_up("ann@example.com").await;
    let big = json!({"user_id": ann.id, "message": "big", "payload": {"data": "x".repeat(16 * 1024)}});
    let refused = client.post("/notify").bearer(&ann.token).json(&big).send().await;
    refused.assert_status(400);
    assert_eq!(refused.json::<Value>()["errors"][0]["field"], "payload");
    let forged = json!({"user_id": ann.id, "message": "reload!", "kind": "resync"});
    let refused = client.post("/notify").bearer(&ann.token).json(&forged).send().await;
    refused.assert_status(400);
    assert_eq!(refused.json::<Value>()["errors"][0]["field"], "kind");
}

#[tokio::test]
async fn a_socket_that_sends_messages_or_whose_session_ended_is_closed() {
    let client = start(Settings { ws_ping_secs: 1, ..settings() }).await;
    let ann = client.sign_up("ann@example.com").await;
    let address = client.listen().await;
    let mut chatty = open_ok(address, &format!("?token={}", ann.token)).await;
    let _ = chatty.send(Message::text("hello")).await;
    match next(&mut chatty).await {
        Heard::Closed(code) => assert_eq!(code, Some(1003)),
        Heard::Frame(frame) => panic!("a frame instead of the close: {frame}"),
    }
    // Logging out ends the session: its socket closes at the next ping.
    let mut socket = open_ok(address, &format!("?token={}", ann.token)).await;
    client.post("/logout").bearer(&ann.token).send().await.assert_status(204);
    client.get("/me").bearer(&ann.token).send().await.assert_status(401);
    match next(&mut socket).await {
        Heard::Closed(code) => assert_eq!(code, Some(4001)),
        Heard::Frame(frame) => panic!("a frame instead of the close: {frame}"),
    }
}

/// `POST /tell {user_id, kind, message}`: the app's own code notifies anyone.
async fn tell(ctx: Ctx, Json(body): Json<Value>) -> ApiResult<Json<Value>> {
    let recipient = body["user_id"].as_str().and_then(|id| id.parse().ok()).unwrap_or_default();
    let kind = body["kind"].as_str().unwrap_or("message");
    let message = body["message"].as_str().unwrap_or_default();
    let id = ctx.notify(recipient, kind, message, json!({"from": ctx.principal().id})).await?;
    Ok(Json(json!({"id": id})))
}

#[tokio::test]
async fn the_apps_code_notifies_through_its_ctx() {
    let client = TestClient::start(App::new(settings()).route(Route::post("/tell", tell))).await;
    let ann = client.sign_up("ann@example.com").await;
    let bob = client.sign_up("bob@example.com").await;
    let address = client.listen().await;
    let mut bobs = open_ok(address, &format!("?token={}", bob.token)).await;
    let told =
        client.post("/tell").bearer(&ann.token).json(&json!({"user_id": bob.id, "message": "hello"})).send().await;
    told.assert_status(200);
    let frame = next_frame(&mut bobs).await;
    assert_eq!(frame["id"], told.json::<Value>()["id"]);
    assert_eq!(frame["payload"], json!({"from": ann.id}));
    let bad = json!({"user_id": bob.id, "message": "", "kind": "a b"});
    let refused = client.post("/tell").bearer(&ann.token).json(&bad).send().await;
    refused.assert_status(400);
    let fields: Vec<String> = refused.json::<Value>()["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|error| error["field"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(fields, ["kind", "message"]);
    let nobody = json!({"user_id": Uuid::new_v4(), "message": "hi"});
    client.post("/tell").bearer(&ann.token).json(&nobody).send().await.assert_status(404);
    quiet(&mut bobs).await;
}

#[tokio::test]
async fn hostile_input_and_leaked_keys_get_a_4xx_and_no_echo() {
    let client = start(settings()).await;
    let ann = client.sign_up("ann@example.com").await;
    let address = client.listen().await;
    // A NUL or a megabyte where a kind or a message goes.
    let megabyte = "k".repeat(1024 * 1024 - 200);
    for body in [
        json!({"user_id": ann.id, "message": "hi", "kind": "a\u{0}b"}),
        json!({"user_id": ann.id, "message": "a\u{0}b"}),
        json!({"user_id": ann.id, "message": "hi", "kind": megabyte}),
        json!({"user_id": ann.id, "message": megabyte}),
        json!({"user_id": "not a uuid", "message": "hi"}),
    ] {
        let refused = client.post("/notify").bearer(&ann.token).json(&body).send().await;
        assert!(matches!(refused.status().as_u16(), 400 | 413), "{}", refused.status());
        assert!(refused.text().len() < 4096, "the answer echoes the input");
    }
    // A long cursor (as long as a WebSocket client sends), or a NUL.
    let long_after = format!("?token={}&after={}", ann.token, "a".repeat(8 * 1024));
    assert_eq!(refused(address, &long_after, None).await, 400);
    assert_eq!(refused(address, &format!("?token={}&after=%00", ann.token), None).await, 400);
    // Nothing was stored.
    let page: Value = client.get("/notifications").bearer(&ann.token).send().await.json();
    assert_eq!(page["total"], 0);
}

#[tokio::test]
async fn a_burst_of_sockets_from_one_user_gets_exactly_the_cap() {
    let client = start(Settings { ws_per_principal: 4, ..settings() }).await;
    let ann = client.sign_up("ann@example.com").await;
    let address = client.listen().await;
    let query = format!("?token={}", ann.token);
    let opened = futures_util::future::join_all((0..20).map(|_| open(address, &query, None))).await;
    let (kept, refused): (Vec<_>, Vec<_>) = opened.into_iter().partition(Result::is_ok);
    assert_eq!(kept.len(), 4);
    assert!(refused.iter().all(|refusal| matches!(refusal, Err(WsError::Http(response)) if response.status() == 429)));
    // The kept ones still deliver.
    let mut kept: Vec<Socket> = kept.into_iter().filter_map(Result::ok).collect();
    let id = notify(&client, &ann, ann.id, "to every socket").await;
    for socket in &mut kept {
        assert_eq!(next_frame(socket).await["id"], json!(id));
    }
}
