//! `GET /ws`: the caller's notifications, live, over a WebSocket.
//!
//! The caller is authenticated before the upgrade, by a bearer header or
//! `?token=` (browsers cannot set headers on a WebSocket); anything else is
//! a 401 and nothing is upgraded. With `?after=<notification id>` the
//! socket first sends every notification newer than that one, in order,
//! then goes live; without, it starts with what comes next.
//!
//! No gap and no duplicate at the seam: the socket registers for wake-ups
//! before it reads the database, and every read asks for the numbers past
//! the last one sent (`notify::store`), so a notification committed during
//! the replay is either in the replay or read at the wake-up that follows,
//! and never both.
//!
//! Close codes of the server:
//! - [`EXPIRED`] (4001): the access token expired; reconnect with a fresh
//!   token and `after` = the last id received.
//! - [`UNANSWERED`] (4002): the client did not answer a ping before the
//!   next one.
//! - 1001 (going away): the server is shutting down; reconnect (to another
//!   replica) with `after`.
//! - [`BEHIND`] (4008): the client read too slowly (a frame waited longer
//!   than the idle timeout to be written); reconnect with `after`, nothing
//!   is lost.
//! - 1003: the client sent a text or binary frame (the socket takes none:
//!   only pongs and a close); a frame over 512 bytes drops the connection.
//! - 1011: the server could not read the database.
//!
//! A socket checks its session at every ping: once the user logged out (or
//! was deleted), it closes with [`EXPIRED`] as well. If notifications it
//! had not sent were deleted meanwhile (more arrived than are kept), it
//! sends a `resync` frame and continues from the newest.

use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{RawQuery, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use fastsaas_core::ApiError;
use http::HeaderMap;
use serde::Serialize;
use serde_json::Value;
use tokio::time::MissedTickBehavior;
use uuid::Uuid;

use super::RESYNC;
use super::hub::Registration;
use super::store::{self, View};
use crate::error::internal;
use crate::identity::bearer_token;
use crate::identity::extract::principal_of_token;
use crate::state::AppState;
use crate::telemetry::requests::record_principal;

/// Closed because the access token expired.
pub(crate) const EXPIRED: u16 = 4001;
/// Closed because a ping went unanswered.
pub(crate) const UNANSWERED: u16 = 4002;
/// Closed because the client read too slowly.
pub(crate) const BEHIND: u16 = 4008;

/// The largest frame or message a client may send.
const MAX_INCOMING: usize = 512;
/// Notifications read from the database at a time: with payloads capped
/// (`notify::MAX_PAYLOAD_BYTES`), what a socket holds is bounded too.
const BATCH: u64 = 32;

/// A frame: a notification as API.md gives it, with its number.
#[derive(Serialize)]
struct Frame<'a> {
    id: Option<Uuid>,
    seq: i64,
    kind: &'a str,
    message: &'a str,
    payload: &'a Value,
    created_at: DateTime<Utc>,
}

impl<'a> From<&'a View> for Frame<'a> {
    fn from(view: &'a View) -> Frame<'a> {
        Frame {
            // A `resync` with nothing kept names no notification.
            id: (!view.id.is_nil()).then_some(view.id),
            seq: view.seq,
            kind: &view.kind,
            message: &view.message,
            payload: &view.payload,
            created_at: view.created_at,
        }
    }
}

/// What the query string of `/ws` may say.
#[derive(Debug, Default)]
struct WsQuery {
    token: Option<String>,
    after: Option<String>,
}

fn parse_query(raw: Option<&str>) -> Result<WsQuery, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or_default())
        .map_err(|_| ApiError::InvalidQuery("the query string cannot be read".to_owned()))?;
    let mut query = WsQuery::default();
    for (name, value) in pairs {
        // Never echo a value: it may be a token.
        let slot = match name.as_str() {
            "token" => &mut query.token,
            "after" => &mut query.after,
            _ => {
                return Err(ApiError::InvalidQuery(
                    "`/ws` takes the query parameters `token` and `after` only".to_owned(),
                ));
            }
        };
        if slot.replace(value).is_some() {
            return Err(ApiError::InvalidQuery(format!("`{name}` is given more than once")));
        }
    }
    Ok(query)
}

/// `GET /ws`: the caller is authenticated first (401), then the query and
/// the upgrade are checked (400), then the socket counted (429).
pub(crate) async fn connect(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let query = parse_query(raw.as_deref());
    // The token is read even from a query that is wrong otherwise: who
    // calls is settled before what they asked.
    let query_token = match &query {
        Ok(query) => query.token.clone(),
        Err(_) => serde_urlencoded::from_str::<Vec<(String, String)>>(raw.as_deref().unwrap_or_default())
            .ok()
            .and_then(|pairs| pairs.into_iter().find(|(name, _)| name == "token").map(|(_, token)| token)),
    };
    let token = match (query_token.as_deref(), bearer_token(&headers)?) {
        (Some(token), None) | (None, Some(token)) => token.to_owned(),
        (Some(_), Some(_)) => {
            return Err(ApiError::InvalidQuery(
                "send the token once: as a bearer header or as `?token=`, not both".to_owned(),
            ));
        }
        (None, None) => {
            return Err(ApiError::Unauthorized(
                "send `Authorization: Bearer <access token>` or `?token=<access token>`".into(),
            ));
        }
    };
    let (principal, expires) = principal_of_token(&app, &token).await?;
    record_principal(principal.id);
    let me = principal.require_user()?;
    let after = match query?.after {
        Some(after) => Some(
            after
                .parse::<Uuid>()
                .map_err(|_| ApiError::InvalidQuery("`after` must be the id of a notification (a UUID)".to_owned()))?,
        ),
        None => None,
    };
    let upgrade = upgrade.map_err(|rejection| {
        ApiError::InvalidQuery(format!("`/ws` is a WebSocket: upgrade the connection ({rejection})"))
    })?;
    let settings = app.settings();
    // Over the cap: try again after a socket has closed (within a ping).
    let registration = app
        .notifier()
        .hub()
        .register(me, settings.ws_per_principal.max(1))
        .map_err(|_| ApiError::RateLimited(settings.ws_ping_secs.max(1)))?;
    // Registered, the starting point is read before the 101: whatever
    // commits after it wakes the socket, so nothing falls in between.
    let start = start(&app, me, after).await.map_err(internal)?;
    Ok(upgrade.max_message_size(MAX_INCOMING).max_frame_size(MAX_INCOMING).on_upgrade(move |socket| async move {
        let session = Session { socket, app, me, token, registration, expires };
        session.run(start).await;
    }))
}

/// Where a socket starts: past `sent`, after a `resync` frame if the
/// client's cursor could not be honoured.
struct Start {
    sent: i64,
    resync: Option<View>,
}

/// The number past which to deliver: that of `after` if the caller still
/// has it; else (an unknown id, one no longer kept, or someone else's) the
/// newest, after a `resync` frame; without `after`, the newest.
async fn start(app: &AppState, me: Uuid, after: Option<Uuid>) -> Result<Start, sea_orm::DbErr> {
    let db = app.db();
    if let Some(after) = after
        && let Some(sent) = store::seq_of(db, me, after).await?
    {
        return Ok(Start { sent, resync: None });
    }
    let newest = store::newest(db, me).await?;
    let sent = newest.as_ref().map_or(0, |view| view.seq);
    let resync = after.map(|_| resync_frame(newest));
    Ok(Start { sent, resync })
}

/// A `resync` frame: its `id` and `seq` are those of the newest
/// notification kept (null and 0 when none is), to continue from.
fn resync_frame(newest: Option<View>) -> View {
    View {
        id: newest.as_ref().map_or(Uuid::nil(), |view| view.id),
        seq: newest.as_ref().map_or(0, |view| view.seq),
        kind: RESYNC.to_owned(),
        message: "notifications after the one named were not kept: reload, then continue from here".to_owned(),
        payload: Value::Object(serde_json::Map::new()),
        created_at: Utc::now(),
        read_at: None,
    }
}

/// One upgraded socket.
struct Session {
    socket: WebSocket,
    app: AppState,
    me: Uuid,
    /// The credentials it was opened with, checked again at each ping.
    token: String,
    registration: Registration,
    expires: Option<DateTime<Utc>>,
}

/// Why a session ended: a close frame to send, if any.
struct Ending(Option<(u16, &'static str)>);

impl Session {
    async fn run(mut self, start: Start) {
        let ending = match self.serve(start).await {
            Ok(never) => match never {},
            Err(ending) => ending,
        };
        if let Some((code, reason)) = ending.0 {
            let close = Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }));
            // A client that does not read cannot be told; it is dropped.
            let _ = tokio::time::timeout(Duration::from_secs(1), self.socket.send(close)).await;
        }
    }

    /// Replays, then delivers at each wake-up until the session ends.
    async fn serve(&mut self, start: Start) -> Result<std::convert::Infallible, Ending> {
        if let Some(resync) = &start.resync {
            self.send_frame(resync).await?;
        }
        let mut sent = self.deliver(start.sent).await?;
        let ping_every = Duration::from_secs(self.app.settings().ws_ping_secs.max(1));
        let mut pings = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
        pings.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut awaiting_pong = false;
        let expiry = self.expires.map(|expires| {
            let left = (expires - Utc::now()).to_std().unwrap_or_default();
            tokio::time::Instant::now() + left
        });
        loop {
            tokio::select! {
                // What the client sent first: a pong that waited while
                // frames were written still counts.
                biased;
                incoming = self.socket.recv() => match incoming {
                    Some(Ok(Message::Pong(_))) => awaiting_pong = false,
                    // Pings are answered by the socket itself.
                    Some(Ok(Message::Ping(_))) => {}
                    Some(Ok(Message::Text(_) | Message::Binary(_))) => {
                        return Err(Ending(Some((close_code::UNSUPPORTED, "this socket takes no messages"))));
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Err(Ending(None)),
                },
                () = self.registration.woken() => sent = self.deliver(sent).await?,
                _ = pings.tick() => {
                    if awaiting_pong {
                        return Err(Ending(Some((UNANSWERED, "no answer to the last ping"))));
                    }
                    if principal_of_token(&self.app, &self.token).await.is_err() {
                        return Err(Ending(Some((EXPIRED, "the session ended; sign in again"))));
                    }
                    self.send(Message::Ping(Default::default())).await?;
                    awaiting_pong = true;
                    // A wake-up lost on the way (a listener reconnecting)
                    // costs at most a ping's wait.
                    sent = self.deliver(sent).await?;
                }
                () = self.registration.closing() => {
                    return Err(Ending(Some((close_code::AWAY, "the server is shutting down; reconnect with `after`"))));
                }
                () = sleep_until(expiry) => {
                    return Err(Ending(Some((EXPIRED, "the access token expired; reconnect with a new one"))));
                }
            }
        }
    }

    /// Sends every notification past `sent`, in order; the last number
    /// sent. Numbers have no gaps, so a first number past `sent + 1` means
    /// the ones between were deleted (more arrived than are kept): the
    /// client gets a `resync`, and the newest.
    async fn deliver(&mut self, mut sent: i64) -> Result<i64, Ending> {
        loop {
            let batch = store::after(self.app.db(), self.me, sent, BATCH).await.map_err(database_down)?;
            if batch.first().is_some_and(|first| first.seq > sent + 1) {
                let newest = store::newest(self.app.db(), self.me).await.map_err(database_down)?;
                let resync = resync_frame(newest);
                self.send_frame(&resync).await?;
                return Ok(resync.seq);
            }
            for view in &batch {
                self.send_frame(view).await?;
                sent = view.seq;
            }
            if (batch.len() as u64) < BATCH {
                return Ok(sent);
            }
        }
    }

    async fn send_frame(&mut self, view: &View) -> Result<(), Ending> {
        let frame = Frame::from(view);
        let text = serde_json::to_string(&frame).map_err(|_| Ending(Some((close_code::ERROR, "a frame failed"))))?;
        self.send(Message::Text(text.into())).await
    }

    /// Sends `message`, waiting at most the idle timeout for the client to
    /// take it.
    async fn send(&mut self, message: Message) -> Result<(), Ending> {
        let patience = Duration::from_secs(self.app.settings().idle_timeout_secs.clamp(1, 24 * 60 * 60));
        match tokio::time::timeout(patience, self.socket.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Ending(None)),
            Err(_) => Err(Ending(Some((BEHIND, "reading too slowly; reconnect with `after`")))),
        }
    }
}

fn database_down(err: sea_orm::DbErr) -> Ending {
    tracing::warn!(error = %err, "a notification socket cannot read the database");
    Ending(Some((close_code::ERROR, "the server cannot read notifications now; reconnect with `after`")))
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
