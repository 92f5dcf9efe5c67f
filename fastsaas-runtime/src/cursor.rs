//! The `next` cursor of a list page and `?after=<cursor>`: where the page
//! ended (the last row's sort key and id), bound to the list it came from
//! (the resource, the sort and the filters) and signed, so that a page by
//! cursor costs what page 1 costs at any depth, and a cursor that was
//! altered or that belongs to another list is a 400.
//!
//! A cursor is `<payload>.<tag>`, both base64url: the payload is the JSON
//! `[list, key, id]`, the tag the first 16 bytes of its HMAC-SHA256 under a
//! key derived from the token secret. It is opaque to clients and says
//! nothing they could not read from the page itself.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fastsaas_core::ApiError;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The bytes of a tag kept in a cursor.
const TAG_BYTES: usize = 16;

/// What a cursor says: the list it belongs to, and the sort key (as text,
/// `None` for a null) and id of the last row of its page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cursor {
    /// A digest of the resource, sort and filters of the list.
    pub(crate) list: String,
    /// The last row's sort key, as its filter text, or `None` for null.
    pub(crate) key: Option<String>,
    /// The last row's id.
    pub(crate) id: Uuid,
}

/// The key that signs cursors.
#[derive(Clone)]
pub(crate) struct CursorKey([u8; 32]);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(***)")
    }
}

impl CursorKey {
    /// The cursor key of a token secret: its own key, so that a cursor can
    /// never pass for a token nor the other way round.
    pub(crate) fn derive(secret: &[u8]) -> CursorKey {
        let mut hasher = Sha256::new();
        hasher.update(b"fastsaas list cursors\0");
        hasher.update(secret);
        CursorKey(hasher.finalize().into())
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes a key of any length; 32 bytes is never refused.
        match Hmac::<Sha256>::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts keys of every length"),
        }
    }

    /// The cursor, as a client carries it.
    pub(crate) fn seal(&self, cursor: &Cursor) -> String {
        let payload = serde_json::json!([cursor.list, cursor.key, cursor.id]).to_string();
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        let tag = mac.finalize().into_bytes();
        format!("{}.{}", URL_SAFE_NO_PAD.encode(payload), URL_SAFE_NO_PAD.encode(&tag[..TAG_BYTES]))
    }

    /// The cursor a client sent for the list `list`: 400 unless this key
    /// signed it for that list.
    pub(crate) fn open(&self, text: &str, list: &str) -> Result<Cursor, ApiError> {
        let refused = || ApiError::InvalidQuery("`after` is not a cursor this list gave out".to_owned());
        // Nothing is decoded of a text longer than any cursor a page gives out.
        if text.len() > MAX_CURSOR_TEXT {
            return Err(refused());
        }
        let (payload, tag) = text.split_once('.').ok_or_else(refused)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| refused())?;
        if tag.len() != TAG_BYTES {
            return Err(refused());
        }
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| refused())?;
        let mut mac = self.mac();
        mac.update(&payload);
        mac.verify_truncated_left(&tag).map_err(|_| refused())?;
        let (from, key, id): (String, Option<String>, Uuid) =
            serde_json::from_slice(&payload).map_err(|_| refused())?;
        if from != list {
            return Err(ApiError::InvalidQuery(
                "`after` is a cursor of another list: its sort and filters must stay those of the page that gave it"
                    .to_owned(),
            ));
        }
        Ok(Cursor { list: from, key, id })
    }
}

/// The longest cursor text `open` reads: as long as a URI may be (the
/// `http` crate refuses longer ones before a handler runs). A cursor holds
/// the list's digest, the last row's sort key and id, far less unless a
/// page is sorted by a text field holding tens of kilobytes.
const MAX_CURSOR_TEXT: usize = 64 * 1024;

/// The digest that names a list: the resource, the sort and the filters,
/// each as the client wrote it (filters in a fixed order).
pub(crate) fn list_digest(resource: &str, sort: &str, filters: &[(&str, &str)]) -> String {
    let mut filters = filters.to_vec();
    filters.sort_unstable();
    let mut hasher = Sha256::new();
    hasher.update(resource.as_bytes());
    hasher.update(b"\0");
    hasher.update(sort.as_bytes());
    for (name, value) in filters {
        hasher.update(b"\0");
        hasher.update(name.as_bytes());
        hasher.update(b"=");
        hasher.update(value.as_bytes());
    }
    URL_SAFE_NO_PAD.encode(&hasher.finalize()[..12])
}

#[cfg(test)]
mod tests {
    use super::{Cursor, CursorKey, list_digest};
    use uuid::Uuid;

    fn cursor() -> Cursor {
        Cursor { list: list_digest("Item", "-name", &[("status", "idle")]), key: Some("b".into()), id: Uuid::nil() }
    }

    #[test]
    fn a_sealed_cursor_opens_for_its_list_only() {
        let key = CursorKey::derive(b"a secret of at least thirty-two bytes");
        let sealed = key.seal(&cursor());
        assert_eq!(key.open(&sealed, &cursor().list).ok(), Some(cursor()));
        let other = list_digest("Item", "name", &[("status", "idle")]);
        assert!(key.open(&sealed, &other).is_err(), "another sort");
        let elsewhere = CursorKey::derive(b"another secret of thirty-two bytes!");
        assert!(elsewhere.open(&sealed, &cursor().list).is_err(), "another key");
    }

    #[test]
    fn an_altered_cursor_is_refused() {
        let key = CursorKey::derive(b"a secret of at least thirty-two bytes");
        let sealed = key.seal(&cursor());
        let (payload, tag) = sealed.split_once('.').unwrap_or_default();
        let forged = Cursor { key: Some("a".into()), ..cursor() };
        let forged_payload = key.seal(&forged);
        let (forged_payload, _) = forged_payload.split_once('.').unwrap_or_default();
        for text in [
            format!("{forged_payload}.{tag}"),
            format!("{payload}.{}", &tag[..tag.len() - 2]),
            format!("{payload}."),
            payload.to_owned(),
            String::new(),
            "..".to_owned(),
        ] {
            assert!(key.open(&text, &cursor().list).is_err(), "{text}");
        }
        assert_eq!(list_digest("T", "", &[("a", "1"), ("b", "2")]), list_digest("T", "", &[("b", "2"), ("a", "1")]));
    }
}
