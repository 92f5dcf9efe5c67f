//! Encryption at rest of `#[crud(encrypted)]` fields (docs/adr/0010).
//!
//! A value is sealed with AES-256-GCM under the current key of
//! `FASTSAAS_FIELD_KEYS`, with a fresh random nonce, and bound to its place
//! (resource, field and object id, as associated data), so a ciphertext
//! copied into another row or field does not open. The stored text is
//! `fse1:<key id>:<base64 of nonce and ciphertext>`: the key id lets an old
//! key open what it sealed while the first key of the list seals all new
//! values. Sealing happens on the row about to be written, opening when a
//! row becomes a [`Record`](crate::Record); the routes' answers never carry
//! these fields, so they never open them.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use fastsaas_core::{ApiError, ApiResult, FieldSpec, ResourceSpec, Settings};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, DatabaseConnection, EntityTrait, ModelTrait, QueryFilter, QueryOrder,
    QuerySelect, Value,
};
use uuid::Uuid;

use crate::error::{StartupError, db_error};
use crate::resource::Resource;

/// The mark of a sealed value, and the version of its format.
const SEALED: &str = "fse1:";
/// The bytes of an AES-GCM nonce.
const NONCE_LEN: usize = 12;

/// The keys of encrypted fields: the first seals, each opens what it sealed.
pub(crate) struct FieldKeys {
    keys: Vec<(String, Aes256Gcm)>,
}

impl std::fmt::Debug for FieldKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("FieldKeys").field("ids", &ids).finish_non_exhaustive()
    }
}

/// Why a stored value does not open.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenError {
    /// No key of `FASTSAAS_FIELD_KEYS` has this id.
    #[error("sealed with key `{0}`, which FASTSAAS_FIELD_KEYS no longer lists")]
    UnknownKey(String),
    /// Not the format `fse1:<id>:<base64>`.
    #[error("not a sealed value")]
    Malformed,
    /// Plain text: stored before the field was encrypted, or written
    /// behind the app's back.
    #[error("stored in plain text; `fastsaas::encryption::reseal` seals values stored before the field was encrypted")]
    Unsealed,
    /// The key, the place or the bytes do not match.
    #[error("does not open with key `{0}`: altered, or moved from another row or field")]
    Rejected(String),
}

impl FieldKeys {
    /// The keys `settings` lists, if any; a start-up error names what is
    /// wrong with the list (never a key).
    pub(crate) fn from_settings(settings: &Settings) -> Result<Option<FieldKeys>, StartupError> {
        let Some(list) = &settings.field_keys else {
            return Ok(None);
        };
        let bad = |why: String| StartupError::Config(format!("FASTSAAS_FIELD_KEYS: {why}"));
        let mut keys: Vec<(String, Aes256Gcm)> = Vec::new();
        for (position, pair) in list.expose().split(',').map(str::trim).enumerate() {
            let number = position + 1;
            let (id, key) =
                pair.split_once(':').ok_or_else(|| bad(format!("entry {number} is not `id:base64 key`")))?;
            let id = id.trim();
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return Err(bad(format!("entry {number}: a key id is letters, digits, `-` and `_`")));
            }
            if keys.iter().any(|(known, _)| known == id) {
                return Err(bad(format!("the key id `{id}` is listed twice")));
            }
            let bytes =
                STANDARD.decode(key.trim()).map_err(|_| bad(format!("the key `{id}` is not standard base64")))?;
            let cipher = Aes256Gcm::new_from_slice(&bytes)
                .ok()
                .filter(|_| bytes.len() == 32)
                .ok_or_else(|| bad(format!("the key `{id}` has {} bytes; it needs 32", bytes.len())))?;
            keys.push((id.to_owned(), cipher));
        }
        Ok(Some(FieldKeys { keys }))
    }

    /// `plain` sealed under the current key, bound to `place`.
    pub(crate) fn seal(&self, place: &str, plain: &str) -> ApiResult<String> {
        let (id, cipher) = self.keys.first().ok_or(ApiError::Internal)?;
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed =
            cipher.encrypt(&nonce, Payload { msg: plain.as_bytes(), aad: place.as_bytes() }).map_err(|_| {
                tracing::error!(place, "a field value could not be encrypted");
                ApiError::Internal
            })?;
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        Ok(format!("{SEALED}{id}:{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The plain text of `stored`, sealed at `place`. A value without the
    /// `fse1:` mark does not open: plain text accepted as a secret would let
    /// whoever can write the database choose it.
    pub(crate) fn open(&self, place: &str, stored: &str) -> Result<String, OpenError> {
        let rest = stored.strip_prefix(SEALED).ok_or(OpenError::Unsealed)?;
        let (id, encoded) = rest.split_once(':').ok_or(OpenError::Malformed)?;
        let (_, cipher) =
            self.keys.iter().find(|(known, _)| known == id).ok_or_else(|| OpenError::UnknownKey(id.to_owned()))?;
        let bytes = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| OpenError::Malformed)?;
        if bytes.len() < NONCE_LEN {
            return Err(OpenError::Malformed);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| OpenError::Malformed)?;
        let plain = cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: sealed, aad: place.as_bytes() })
            .map_err(|_| OpenError::Rejected(id.to_owned()))?;
        String::from_utf8(plain).map_err(|_| OpenError::Malformed)
    }

    /// Whether `stored` is sealed with a key other than the current one
    /// (or not sealed at all): a value to seal again before that key goes.
    pub(crate) fn is_stale(&self, stored: &str) -> bool {
        let current = self.keys.first().map(|(id, _)| id.as_str()).unwrap_or_default();
        stored.strip_prefix(SEALED).and_then(|rest| rest.split_once(':')).is_none_or(|(id, _)| id != current)
    }
}

/// The fields of `spec` whose values are sealed.
pub(crate) fn encrypted_fields(spec: &ResourceSpec) -> impl Iterator<Item = &'static FieldSpec> {
    spec.fields.iter().filter(|field| field.encrypted)
}

/// What a sealed value is bound to: its type, field and object.
fn place(spec: &ResourceSpec, field: &FieldSpec, id: Uuid) -> String {
    format!("{}.{}:{id}", spec.name, field.name)
}

/// The column of `field` in `T`'s table.
fn column<T: Resource>(field: &FieldSpec) -> ApiResult<T::Column> {
    field.name.parse::<T::Column>().map_err(|_| {
        tracing::error!(resource = T::SPEC.name, field = field.name, "an encrypted field has no column");
        ApiError::Internal
    })
}

/// The 500 for an encrypted column that does not hold text (a table
/// changed by hand).
fn unfit<T: Resource>(err: sea_orm::DbErr) -> ApiError {
    tracing::error!(resource = T::SPEC.name, error = %err, "an encrypted column does not hold text");
    ApiError::Internal
}

/// Seals, in `row` (about to be written for object `id`), the values of
/// `T`'s encrypted fields that it sets.
pub(crate) fn seal_row<T: Resource>(keys: Option<&FieldKeys>, id: Uuid, row: &mut T::ActiveModel) -> ApiResult<()> {
    for field in encrypted_fields(T::SPEC) {
        let keys = keys.ok_or(ApiError::Internal)?;
        let column = column::<T>(field)?;
        if let ActiveValue::Set(Value::String(Some(plain))) = row.get(column) {
            let sealed = keys.seal(&place(T::SPEC, field, id), &plain)?;
            row.try_set(column, Value::String(Some(sealed))).map_err(unfit::<T>)?;
        }
    }
    Ok(())
}

/// Opens, in `model` (a row of object `id`), the values of `T`'s encrypted
/// fields; a value that does not open is logged and answered with a 500.
pub(crate) fn open_row<T: Resource>(keys: Option<&FieldKeys>, model: &mut T::Model) -> ApiResult<()> {
    let mut fields = encrypted_fields(T::SPEC).peekable();
    if fields.peek().is_none() {
        return Ok(());
    }
    let id = T::id_of(model);
    for field in fields {
        let keys = keys.ok_or(ApiError::Internal)?;
        let column = column::<T>(field)?;
        if let Value::String(Some(stored)) = model.get(column) {
            let plain = keys.open(&place(T::SPEC, field, id), &stored).map_err(|err| {
                log_unopened(T::SPEC, field, id, &err);
                ApiError::Internal
            })?;
            model.try_set(column, Value::String(Some(plain))).map_err(unfit::<T>)?;
        }
    }
    Ok(())
}

/// Logs a stored value of `field` of the object `id` that does not open
/// (never the value).
fn log_unopened(spec: &ResourceSpec, field: &FieldSpec, id: Uuid, err: &OpenError) {
    tracing::error!(resource = spec.name, field = field.name, %id, error = %err, "an encrypted value does not open");
}

/// Rows read at a time by [`reseal`].
const RESEAL_BATCH: u64 = 500;

/// What [`reseal`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resealed {
    /// Values sealed again with the current key.
    pub sealed: u64,
    /// Values that do not open (altered, moved from another row, or sealed
    /// with a key no longer listed): logged with their object, left as
    /// they are. An old key can go only while this is 0.
    pub unopened: u64,
}

/// [`reseal`](crate::reseal) on `db` with `keys`.
pub(crate) async fn reseal<T: Resource>(db: &DatabaseConnection, keys: Option<&FieldKeys>) -> ApiResult<Resealed> {
    let mut done = Resealed::default();
    let Some(keys) = keys else {
        return Ok(done);
    };
    let failed = |err| db_error(T::SPEC, err);
    let mut after: Option<Uuid> = None;
    loop {
        let mut batch = T::Entity::find().order_by_asc(T::ID).limit(RESEAL_BATCH);
        if let Some(last) = after {
            batch = batch.filter(T::ID.gt(last));
        }
        let rows = batch.all(db).await.map_err(failed)?;
        let Some(last) = rows.last() else {
            return Ok(done);
        };
        after = Some(T::id_of(last));
        for model in rows {
            let id = T::id_of(&model);
            for field in encrypted_fields(T::SPEC) {
                let column = column::<T>(field)?;
                let Value::String(Some(stored)) = model.get(column) else {
                    continue;
                };
                if !keys.is_stale(&stored) {
                    continue;
                }
                let place = place(T::SPEC, field, id);
                let plain = match keys.open(&place, &stored) {
                    Ok(plain) => plain,
                    Err(OpenError::Unsealed) => stored.clone(),
                    Err(err) => {
                        log_unopened(T::SPEC, field, id, &err);
                        done.unopened += 1;
                        continue;
                    }
                };
                // Only the value read is replaced: a request that wrote in
                // between sealed its own value with the current key.
                let result = T::Entity::update_many()
                    .col_expr(column, Expr::value(keys.seal(&place, &plain)?))
                    .filter(T::ID.eq(id))
                    .filter(column.eq(stored))
                    .exec(db)
                    .await
                    .map_err(failed)?;
                done.sealed += result.rows_affected;
            }
        }
    }
}
