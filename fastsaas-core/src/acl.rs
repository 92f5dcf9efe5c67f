//! Access-control decisions, as DESIGN.md section 3 defines them: a pure
//! function of who asks, what they ask, about which object, and the ACL
//! entries that could apply. The runtime loads the entries and acts on the
//! decision; this module only decides, so it can be tested exhaustively.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The role that may do everything in the framework's own routes.
pub const SUPERADMIN: &str = "superadmin";

/// The principal id that stands for every authenticated caller in ACL
/// entries ("authenticated users"): the nil UUID.
pub const AUTHENTICATED: Uuid = Uuid::nil();

/// The action that matches every action in an entry.
pub const ANY_ACTION: &str = "*";

/// The operations whose permission entries govern: a list shows what the
/// caller may `read`, and a clear deletes what it may `delete`, so `list`
/// and `clear` are not actions of their own.
pub const CHECKED_OPERATIONS: [&str; 4] = ["create", "read", "update", "delete"];

/// The actions entries on a type may name: the checked operations, the
/// type's custom actions (`custom`, from its endpoints), and `*`.
///
/// ```
/// use fastsaas_core::acl::actions_of;
/// assert_eq!(actions_of(&["read", "start"]), ["create", "read", "update", "delete", "start", "*"]);
/// ```
pub fn actions_of(custom: &[&'static str]) -> Vec<&'static str> {
    let mut actions = CHECKED_OPERATIONS.to_vec();
    for action in custom {
        if !actions.contains(action) {
            actions.push(action);
        }
    }
    actions.push(ANY_ACTION);
    actions
}

/// Whether an entry grants or refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Grants the action.
    Allow,
    /// Refuses the action; beats every allow but `acl_allow_always`.
    Deny,
}

/// One ACL entry: `principal` may (or may not) do `action` on one object of
/// a resource type, or on every object of it when `object` is `None`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclEntry {
    /// The entry's id.
    pub id: Uuid,
    /// A user, role, organization or authenticated resource (agent), or
    /// [`AUTHENTICATED`].
    pub principal_id: Uuid,
    /// The object, or `None` for the whole type.
    pub object: Option<Uuid>,
    /// An operation (`read`, `update`…), a custom action, or `*`.
    pub action: String,
    /// Allow or deny.
    pub effect: Effect,
}

/// A principal (the one who calls: a user, or a resource with an API key)
/// as the rules see it: its ids and role names. The runtime's `Principal`,
/// the request's caller, gives this view with `to_acl()`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Principal {
    /// The principal's own id (a user, or an authenticated resource).
    pub id: Uuid,
    /// The names of its roles (matched against `acl_admins` and `acl_allow_always`).
    pub role_names: Vec<String>,
    /// The ids of its roles (matched against entries).
    pub role_ids: Vec<Uuid>,
    /// The organizations it administers.
    pub admin_of: Vec<Uuid>,
    /// The organizations it is a plain member of.
    pub member_of: Vec<Uuid>,
}

impl Principal {
    /// Every principal id an entry may name to match this caller.
    pub fn principal_ids(&self) -> Vec<Uuid> {
        let mut ids = vec![self.id, AUTHENTICATED];
        ids.extend(&self.role_ids);
        ids.extend(&self.admin_of);
        ids.extend(&self.member_of);
        ids
    }

    /// Whether the caller holds any of the named roles (a scope's
    /// `acl_admins` or `acl_allow_always`).
    pub fn holds_any(&self, roles: &[&str]) -> bool {
        self.role_names.iter().any(|held| roles.contains(&held.as_str()))
    }
}

/// What is asked: an action on an object of a type (or on the type).
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The action: an operation name or a custom action.
    pub action: &'a str,
    /// The object's id and owner, or `None` for a type-wide question
    /// (`clear`, managing type-wide entries).
    pub object: Option<(Uuid, Option<Uuid>)>,
    /// The scope's `acl_admins`.
    pub acl_admins: &'a [&'a str],
    /// The scope's `acl_allow_always`.
    pub acl_allow_always: &'a [&'a str],
}

/// The step of DESIGN.md section 3 that decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Step 2: a role in `acl_allow_always`.
    AllowAlways,
    /// Step 3: a matching deny entry.
    DenyEntry,
    /// Step 4: the caller owns the object.
    Owner,
    /// Step 4: the caller administers the owning organization.
    OrganizationAdmin,
    /// Step 4: the caller is a member of the owning organization (reads only).
    OrganizationMember,
    /// Step 5: a matching allow entry.
    AllowEntry,
    /// Step 6: a role in `acl_admins`.
    AclAdmin,
    /// Step 7: nothing allowed it.
    NoRule,
}

/// A decision and what made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether the action is allowed.
    pub allowed: bool,
    /// The deciding step.
    pub step: Step,
    /// The entry that decided, for steps 3 and 5.
    pub entry: Option<Uuid>,
}

impl Decision {
    const fn by(allowed: bool, step: Step, entry: Option<Uuid>) -> Decision {
        Decision { allowed, step, entry }
    }
}

fn matches(entry: &AclEntry, ids: &[Uuid], action: &str, object: Option<Uuid>) -> bool {
    ids.contains(&entry.principal_id)
        && (entry.action == action || entry.action == ANY_ACTION)
        && (entry.object.is_none() || entry.object == object)
}

/// Decides `request` for `caller` given the `entries` of the resource type
/// (any order; entries of other objects are ignored). The first matching
/// step of DESIGN.md section 3 decides.
///
/// ```
/// use fastsaas_core::acl::{decide, AclEntry, Principal, Effect, Request, Step};
/// use uuid::Uuid;
///
/// let (me, doc) = (Uuid::new_v4(), Uuid::new_v4());
/// let caller = Principal { id: me, ..Principal::default() };
/// let deny = AclEntry { id: Uuid::new_v4(), principal_id: me, object: Some(doc), action: "*".into(), effect: Effect::Deny };
/// let read_own = Request { action: "read", object: Some((doc, Some(me))), acl_admins: &[], acl_allow_always: &[] };
/// assert_eq!(decide(&caller, &read_own, &[]).step, Step::Owner);
/// assert_eq!(decide(&caller, &read_own, &[deny]).step, Step::DenyEntry);
/// ```
pub fn decide(caller: &Principal, request: &Request<'_>, entries: &[AclEntry]) -> Decision {
    if caller.holds_any(request.acl_allow_always) {
        return Decision::by(true, Step::AllowAlways, None);
    }
    let ids = caller.principal_ids();
    let object = request.object.map(|(id, _)| id);
    let matching = |effect: Effect| {
        entries
            .iter()
            .filter(|entry| entry.effect == effect && matches(entry, &ids, request.action, object))
            .map(|entry| entry.id)
            .min()
    };
    if let Some(entry) = matching(Effect::Deny) {
        return Decision::by(false, Step::DenyEntry, Some(entry));
    }
    if let Some((_, Some(owner))) = request.object {
        if owner == caller.id {
            return Decision::by(true, Step::Owner, None);
        }
        if caller.admin_of.contains(&owner) {
            return Decision::by(true, Step::OrganizationAdmin, None);
        }
        if request.action == "read" && caller.member_of.contains(&owner) {
            return Decision::by(true, Step::OrganizationMember, None);
        }
    }
    if let Some(entry) = matching(Effect::Allow) {
        return Decision::by(true, Step::AllowEntry, Some(entry));
    }
    if caller.holds_any(request.acl_admins) {
        return Decision::by(true, Step::AclAdmin, None);
    }
    Decision::by(false, Step::NoRule, None)
}
