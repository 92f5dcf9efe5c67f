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
//! - [`BEHIND`] (4008): the client read too slowly (a frame waited longer
//!   than the idle timeout to be written); reconnect with `after`, nothing
//!   is lost.
//! - 1011: the server could not read the database.
//!
//! A frame from the client may be a few hundred bytes at most (the socket
//! expects none but pongs and a close); a larger one closes the socket.

use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{RawQuery, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use fastsaas_core::ApiError;
use http::HeaderMap;
use http::header::AUTHORIZATION;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::hub::Registration;
use super::store::{self, View};
use crate::identity::Principal;
use crate::identity::extract::principal_of_token;
use crate::state::AppState;

/// Closed because the access token expired.
pub(crate) const EXPIRED: u16 = 4001;
/// Closed because a ping went unanswered.
pub(crate) const UNANSWERED: u16 = 4002;
/// Closed because the client read too slowly.
pub(crate) const BEHIND: u16 = 4008;

/// The largest frame or message a client may send.
const MAX_INCOMING: usize = 512;
/// Notifications read from the database at a time.
const BATCH: u64 = 100;

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
            id: Some(view.id),
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
    after: Option<Uuid>,
}

fn parse_query(raw: Option<&str>) -> Result<WsQuery, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or_default())
        .map_err(|_| ApiError::InvalidQuery("the query string cannot be read".to_owned()))?;
    let mut query = WsQuery::default();
    for (name, value) in pairs {
        // Never echo a value: it may be a token.
        match name.as_str() {
            "token" if query.token.is_none() => query.token = Some(value),
            "after" if query.after.is_none() => {
                query.after = Some(value.parse().map_err(|_| {
                    ApiError::InvalidQuery("`after` must be the id of a notification (a UUID)".to_owned())
                })?);
            }
            "token" | "after" => return Err(ApiError::InvalidQuery(format!("`{name}` is given more than once"))),
            _ => {
                return Err(ApiError::InvalidQuery(
                    "`/ws` takes the query parameters `token` and `after` only".to_owned(),
                ));
            }
        }
    }
    Ok(query)
}

/// `GET /ws`.
pub(crate) async fn connect(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let query = parse_query(raw.as_deref())?;
    let (principal, expires) = match (&query.token, headers.get(AUTHORIZATION)) {
        (Some(token), None) => principal_of_token(&app, token).await?,
        (None, Some(_)) => {
            let token = bearer(&headers).unwrap_or_default();
            principal_of_token(&app, token).await?
        }
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
    let me = user_of(&principal)?;
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
    let after = query.after;
    Ok(upgrade.max_message_size(MAX_INCOMING).max_frame_size(MAX_INCOMING).on_upgrade(move |socket| async move {
        let session = Session { socket, app, me, registration, expires };
        session.run(after).await;
    }))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

/// The user a socket is for: notifications go to users.
fn user_of(principal: &Principal) -> Result<Uuid, ApiError> {
    principal.require_user()
}

/// One upgraded socket.
struct Session {
    socket: WebSocket,
    app: AppState,
    me: Uuid,
    registration: Registration,
    expires: Option<DateTime<Utc>>,
}

/// Why a session ended: a close frame to send, if any.
struct Ending(Option<(u16, &'static str)>);

impl Session {
    async fn run(mut self, after: Option<Uuid>) {
        let ending = match self.serve(after).await {
            Ok(never) => match never {},
            Err(ending) => ending,
        };
        if let Some((code, reason)) = ending.0 {
            let close = Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }));
            // A client that does not read cannot be told; it is dropped.
            let _ = tokio::time::timeout(Duration::from_secs(1), self.socket.send(close)).await;
        }
    }

    /// Replays, then delivers until the session ends.
    async fn serve(&mut self, after: Option<Uuid>) -> Result<std::convert::Infallible, Ending> {
        let mut sent = self.start(after).await?;
        let ping_every = Duration::from_secs(self.app.settings().ws_ping_secs.max(1));
        let mut pings = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
        let mut awaiting_pong = false;
        let expiry = self.expires.map(|expires| {
            let left = (expires - Utc::now()).to_std().unwrap_or_default();
            tokio::time::Instant::now() + left
        });
        loop {
            sent = self.deliver(sent).await?;
            tokio::select! {
                () = self.registration.woken() => {}
                incoming = self.socket.recv() => match incoming {
                    Some(Ok(Message::Pong(_))) => awaiting_pong = false,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Err(Ending(None)),
                    // Pings are answered by the socket itself; text and
                    // binary frames mean nothing here.
                    Some(Ok(_)) => {}
                },
                _ = pings.tick() => {
                    if awaiting_pong {
                        return Err(Ending(Some((UNANSWERED, "no answer to the last ping"))));
                    }
                    self.send(Message::Ping(Default::default())).await?;
                    awaiting_pong = true;
                }
                () = sleep_until(expiry) => {
                    return Err(Ending(Some((EXPIRED, "the access token expired; reconnect with a new one"))));
                }
            }
        }
    }

    /// The number past which to deliver: that of `after` if the caller
    /// still has it, else (an unknown id, or one no longer kept) a first
    /// frame of kind `resync` and the newest number; without `after`, the
    /// newest number.
    async fn start(&mut self, after: Option<Uuid>) -> Result<i64, Ending> {
        let db = self.app.db();
        if let Some(after) = after
            && let Some(seq) = store::seq_of(db, self.me, after).await.map_err(database_down)?
        {
            return Ok(seq);
        }
        let newest = store::newest(db, self.me).await.map_err(database_down)?;
        let seq = newest.as_ref().map_or(0, |view| view.seq);
        if after.is_some() {
            let resync = Frame {
                id: newest.as_ref().map(|view| view.id),
                seq,
                kind: "resync",
                message: "notifications after the one named were not kept: reload, then continue from here",
                payload: &Value::Null,
                created_at: Utc::now(),
            };
            self.send_frame(&resync).await?;
        }
        Ok(seq)
    }

    /// Sends every notification past `sent`, in order; the last number sent.
    async fn deliver(&mut self, mut sent: i64) -> Result<i64, Ending> {
        loop {
            let batch = store::after(self.app.db(), self.me, sent, BATCH).await.map_err(database_down)?;
            for view in &batch {
                self.send_frame(&Frame::from(view)).await?;
                sent = view.seq;
            }
            if (batch.len() as u64) < BATCH {
                return Ok(sent);
            }
        }
    }

    async fn send_frame(&mut self, frame: &Frame<'_>) -> Result<(), Ending> {
        let text = serde_json::to_string(frame).map_err(|_| Ending(Some((close_code::ERROR, "a frame failed"))))?;
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
