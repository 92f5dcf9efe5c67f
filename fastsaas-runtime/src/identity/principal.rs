//! Who is calling: the [`Principal`] extractor.
//!
//! A bearer access token is checked (signature, algorithm, issuer, audience,
//! expiry) on every request; its session, the user's roles, memberships and
//! type-wide entries are read in one round trip, and kept in the caller
//! cache (`cache`) until a change to any of them (a logout, a role or a
//! membership given or taken, a type-wide entry) commits, here or on
//! another replica: such a change takes effect on the very next request
//! here, and on the other replicas as soon as the bus brings it.

use fastsaas_core::ApiError;
use std::sync::Arc;

use fastsaas_core::acl::{self, AUTHENTICATED, AclEntry};
use http::HeaderMap;
use http::header::AUTHORIZATION;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Statement};
use uuid::Uuid;

use super::entities::{api_key, membership, role, user_role};
use super::tokens::{API_KEY_PREFIX, Claims, TokenKeys, token_hash};
use crate::access::{Subject, TypeWideEntries, effect_of};
use crate::cache::Caches;
use crate::error::internal;
use crate::registry::Registry;

pub use fastsaas_core::acl::SUPERADMIN;

/// The authenticated caller. As an extractor it answers 401 when the request
/// has no valid credentials; `Option<Principal>` lets a route serve both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The user, or for an API key the resource (an agent) it belongs to.
    pub id: Uuid,
    /// Whether a user or a resource acts.
    pub kind: PrincipalKind,
    /// The names of the user's roles.
    pub roles: Vec<String>,
    /// The ids of the user's roles, in the order of `roles`.
    pub role_ids: Vec<Uuid>,
    /// The organizations the user belongs to, and as what.
    pub organizations: Vec<Membership>,
    /// The session (refresh-token family) the access token belongs to.
    pub(crate) session_id: Uuid,
    /// The type-wide ACL entries naming the caller, when read with it.
    pub(crate) type_wide: Option<Arc<TypeWideEntries>>,
}

/// Who acts: a signed-in user, or an authenticated resource through one of
/// its API keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A user with an access token.
    User,
    /// A `#[crud(authenticated)]` resource with an API key.
    Resource {
        /// The resource's type name, e.g. `"Agent"`.
        type_name: String,
        /// The resource's owner (a user or an organization), for whom
        /// whatever the resource creates is made.
        owner_id: Uuid,
    },
}

/// A user's place in an organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Membership {
    /// The organization.
    pub organization_id: Uuid,
    /// `admin` or `member`.
    pub role: OrgRole,
}

/// What a member may do in its organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrgRole {
    /// Manages members and administers what the organization owns.
    Admin,
    /// Reads what the organization owns.
    Member,
}

impl OrgRole {
    /// The stored and JSON name.
    pub const fn as_str(self) -> &'static str {
        match self {
            OrgRole::Admin => "admin",
            OrgRole::Member => "member",
        }
    }

    /// The role of a stored name; anything unknown is the weaker `member`.
    pub(crate) fn from_stored(name: &str) -> OrgRole {
        if name == "admin" { OrgRole::Admin } else { OrgRole::Member }
    }
}

impl Principal {
    /// Whether the caller holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|held| held == role)
    }

    /// Whether the caller holds [`SUPERADMIN`].
    pub fn is_superadmin(&self) -> bool {
        self.has_role(SUPERADMIN)
    }

    /// The caller's role in `organization`, if a member.
    pub fn role_in(&self, organization: Uuid) -> Option<OrgRole> {
        self.organizations.iter().find(|m| m.organization_id == organization).map(|m| m.role)
    }

    /// Whom what the caller creates belongs to by default: a user itself,
    /// a resource (through its key) its own owner, so that an agent's
    /// owner sees and removes whatever the agent made.
    pub fn acts_for(&self) -> Uuid {
        match self.kind {
            PrincipalKind::User => self.id,
            PrincipalKind::Resource { owner_id, .. } => owner_id,
        }
    }

    /// The principal as the access rules see it (the ids they match).
    pub fn to_acl(&self) -> acl::Principal {
        acl_principal_with(self.id, self.roles.clone(), self.role_ids.clone(), &self.organizations)
    }

    /// The caller with the entries read along with it, for decisions.
    pub(crate) fn subject(&self) -> Subject {
        match &self.type_wide {
            Some(known) => Subject::with_type_wide(self.to_acl(), Arc::clone(known)),
            None => Subject::of(self.to_acl()),
        }
    }

    /// The user's id, or 403 for an API key (user routes are for users).
    pub(crate) fn require_user(&self) -> Result<Uuid, ApiError> {
        match self.kind {
            PrincipalKind::User => Ok(self.id),
            PrincipalKind::Resource { .. } => {
                Err(ApiError::Forbidden("this route is for users; an API key acts as its resource".into()))
            }
        }
    }

    /// 403 unless the caller is a superadmin.
    pub(crate) fn require_superadmin(&self) -> Result<(), ApiError> {
        if self.is_superadmin() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!("this needs the `{SUPERADMIN}` role")))
        }
    }
}

/// The one answer for every bad credential, so a client learns nothing
/// about which check failed.
pub(crate) fn invalid_token() -> ApiError {
    ApiError::Unauthorized("the access token is missing, invalid or expired".into())
}

/// The principal the request's credentials (its `Authorization` header)
/// name, if it sends any: a user's access token, checked with `keys`, or
/// an API key of a registered resource.
pub(crate) async fn from_credentials(
    headers: &HeaderMap,
    db: &DatabaseConnection,
    (keys, caches): (&TokenKeys, &Caches),
    registry: &Registry,
) -> Result<Option<Principal>, ApiError> {
    match bearer_token(headers)? {
        Some(token) => from_token(token, db, (keys, caches), registry).await.map(Some),
        None => Ok(None),
    }
}

/// The token of the request's `Authorization: Bearer <token>` header:
/// `None` without the header, 401 for a header of another form.
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(header) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let token = header
        .to_str()
        .ok()
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(invalid_token)?;
    Ok(Some(token))
}

/// The principal `token` names: a user's access token, checked with
/// `keys`, or an API key of a registered resource; 401 for anything else.
pub(crate) async fn from_token(
    token: &str,
    db: &DatabaseConnection,
    (keys, caches): (&TokenKeys, &Caches),
    registry: &Registry,
) -> Result<Principal, ApiError> {
    if token.starts_with(API_KEY_PREFIX) {
        return resource_with_key(db, registry, token).await;
    }
    let claims = keys.verify(token).ok_or_else(invalid_token)?;
    if let Some(known) = caches.caller::<Principal>(claims.sub, claims.sid) {
        return Ok(Principal::clone(&known));
    }
    // Taken before the read: a change committed meanwhile makes it stale.
    let stamp = caches.caller_stamp(claims.sub);
    let principal = load(db, &claims).await?;
    caches.keep_caller(claims.sub, claims.sid, stamp, Arc::new(principal.clone()));
    Ok(principal)
}

/// The session, roles, organizations and type-wide ACL entries of a
/// caller, in one round trip: a row `s` if the session is open, a row `r`
/// per role, `o` per membership, `e` per type-wide entry naming the user,
/// one of its roles or organizations, or every signed-in caller ($3).
const CALLER_SQL: &str = "\
SELECT 's' AS kind, t.family_id AS id, '' AS name, $2 AS principal_id, '' AS action, '' AS effect \
    FROM (SELECT family_id FROM fastsaas_refresh_tokens \
    WHERE family_id = $1 AND user_id = $2 AND revoked_at IS NULL LIMIT 1) t \
UNION ALL SELECT 'r', r.id, r.name, $2, '', '' FROM fastsaas_user_roles ur \
    JOIN fastsaas_roles r ON r.id = ur.role_id WHERE ur.user_id = $2 \
UNION ALL SELECT 'o', m.organization_id, m.role, $2, '', '' FROM fastsaas_memberships m \
    WHERE m.user_id = $2 \
UNION ALL SELECT 'e', e.id, e.resource_type, e.principal_id, e.action, e.effect FROM fastsaas_acl_entries e \
    WHERE e.object_id IS NULL AND (e.principal_id IN ($2, $3) \
    OR e.principal_id IN (SELECT ur.role_id FROM fastsaas_user_roles ur WHERE ur.user_id = $2) \
    OR e.principal_id IN (SELECT m.organization_id FROM fastsaas_memberships m WHERE m.user_id = $2))";

/// The principal of valid `claims`, if its session is still open.
async fn load(db: &DatabaseConnection, claims: &Claims) -> Result<Principal, ApiError> {
    let statement = Statement::from_sql_and_values(
        db.get_database_backend(),
        CALLER_SQL,
        [claims.sid.into(), claims.sub.into(), AUTHENTICATED.into()],
    );
    let rows = db.query_all_raw(statement).await.map_err(internal)?;
    let mut principal = Principal {
        id: claims.sub,
        kind: PrincipalKind::User,
        roles: Vec::new(),
        role_ids: Vec::new(),
        organizations: Vec::new(),
        session_id: claims.sid,
        type_wide: None,
    };
    let mut open = false;
    let mut roles = Vec::new();
    let mut type_wide = TypeWideEntries::default();
    for row in rows {
        let kind: String = row.try_get("", "kind").map_err(internal)?;
        let id: Uuid = row.try_get("", "id").map_err(internal)?;
        let name: String = row.try_get("", "name").map_err(internal)?;
        match kind.as_str() {
            "s" => open = true,
            "r" => roles.push((name, id)),
            "o" => principal.organizations.push(Membership { organization_id: id, role: OrgRole::from_stored(&name) }),
            _ => {
                let effect: String = row.try_get("", "effect").map_err(internal)?;
                let entry = AclEntry {
                    id,
                    principal_id: row.try_get("", "principal_id").map_err(internal)?,
                    object: None,
                    action: row.try_get("", "action").map_err(internal)?,
                    effect: effect_of(&effect),
                };
                type_wide.push(name, entry);
            }
        }
    }
    if !open {
        return Err(invalid_token());
    }
    roles.sort_unstable();
    (principal.roles, principal.role_ids) = roles.into_iter().unzip();
    principal.type_wide = Some(Arc::new(type_wide));
    Ok(principal)
}

/// The owner of an object of `table`, if the object exists and its owner
/// (a user or an organization) does too.
fn living_owner_sql(table: &str) -> String {
    format!(
        "SELECT r.owner_id AS owner_id FROM \"{table}\" r WHERE r.id = $1 AND (\
         EXISTS (SELECT 1 FROM fastsaas_users u WHERE u.id = r.owner_id) OR \
         EXISTS (SELECT 1 FROM fastsaas_organizations o WHERE o.id = r.owner_id))"
    )
}

/// The resource an API key belongs to, acting, while that resource and its
/// owner exist (a key never outlives either, whatever a cleanup missed).
/// Its last use is recorded at most once a minute, to keep reads cheap.
async fn resource_with_key(db: &DatabaseConnection, registry: &Registry, key: &str) -> Result<Principal, ApiError> {
    let row = api_key::Entity::find()
        .filter(api_key::Column::KeyHash.eq(token_hash(key)))
        .one(db)
        .await
        .map_err(internal)?
        .ok_or_else(invalid_token)?;
    let spec = registry.spec(&row.resource_type).filter(|spec| spec.authenticated).ok_or_else(invalid_token)?;
    let statement = Statement::from_sql_and_values(
        db.get_database_backend(),
        living_owner_sql(spec.table),
        [row.resource_id.into()],
    );
    let owner = db.query_one_raw(statement).await.map_err(internal)?.ok_or_else(invalid_token)?;
    let owner_id: Uuid = owner.try_get("", "owner_id").map_err(internal)?;
    let now = chrono::Utc::now();
    if row.last_used_at.is_none_or(|last| now - last > chrono::Duration::minutes(1)) {
        api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, sea_orm::sea_query::Expr::value(now))
            .filter(api_key::Column::Id.eq(row.id))
            .exec(db)
            .await
            .map_err(internal)?;
    }
    Ok(Principal {
        id: row.resource_id,
        kind: PrincipalKind::Resource { type_name: row.resource_type, owner_id },
        roles: Vec::new(),
        role_ids: Vec::new(),
        organizations: Vec::new(),
        session_id: Uuid::nil(),
        type_wide: None,
    })
}

/// The caller that principal `id` would be: a user with its roles and
/// organizations, or (a role, an organization, an agent) just the id.
pub(crate) async fn acl_principal_of(db: &impl ConnectionTrait, id: Uuid) -> Result<acl::Principal, ApiError> {
    let (roles, role_ids): (Vec<String>, Vec<Uuid>) = roles_of(db, id).await?.into_iter().unzip();
    let memberships = memberships_of(db, id).await?;
    Ok(acl_principal_with(id, roles, role_ids, &memberships))
}

/// A caller from its roles and memberships, split into the organizations it
/// administers and those it is a plain member of.
fn acl_principal_with(
    id: Uuid,
    role_names: Vec<String>,
    role_ids: Vec<Uuid>,
    memberships: &[Membership],
) -> acl::Principal {
    let orgs = |role: OrgRole| memberships.iter().filter(|m| m.role == role).map(|m| m.organization_id).collect();
    acl::Principal { id, role_names, role_ids, admin_of: orgs(OrgRole::Admin), member_of: orgs(OrgRole::Member) }
}

/// The organizations `user` belongs to.
pub(crate) async fn memberships_of(db: &impl ConnectionTrait, user: Uuid) -> Result<Vec<Membership>, ApiError> {
    Ok(membership::Entity::find()
        .filter(membership::Column::UserId.eq(user))
        .all(db)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|row| Membership { organization_id: row.organization_id, role: OrgRole::from_stored(&row.role) })
        .collect())
}

/// The names and ids of `user`'s roles, by name.
pub(crate) async fn roles_of(db: &impl ConnectionTrait, user: Uuid) -> Result<Vec<(String, Uuid)>, ApiError> {
    let mut roles: Vec<(String, Uuid)> = user_role::Entity::find()
        .filter(user_role::Column::UserId.eq(user))
        .find_also_related(role::Entity)
        .all(db)
        .await
        .map_err(internal)?
        .into_iter()
        .filter_map(|(_, role)| role.map(|role| (role.name, role.id)))
        .collect();
    roles.sort_unstable();
    Ok(roles)
}
