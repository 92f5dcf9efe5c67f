//! The ACL evaluator against a plain reference reading of DESIGN.md
//! section 3, over random callers, objects and entry sets, plus metamorphic
//! properties: an added allow never removes access, an added deny never
//! grants it, and the order of entries never matters.

use fastsaas_core::acl::{AUTHENTICATED, AclEntry, Effect, Principal, Request, decide};
use proptest::prelude::*;
use uuid::Uuid;

/// A small world, so random entries often match.
fn ids() -> Vec<Uuid> {
    (1..=8_u128).map(Uuid::from_u128).collect()
}

const ACTIONS: [&str; 5] = ["read", "update", "delete", "command", "*"];
const ROLES: [&str; 3] = ["superadmin", "auditor", "staff"];

fn pick<T: Clone + std::fmt::Debug + 'static>(items: Vec<T>) -> impl Strategy<Value = T> {
    prop::sample::select(items)
}

fn entry() -> impl Strategy<Value = AclEntry> {
    let principals: Vec<Uuid> = std::iter::once(AUTHENTICATED).chain(ids()).collect();
    (
        any::<u128>(),
        pick(principals),
        prop::option::of(pick(ids())),
        pick(ACTIONS.to_vec()),
        prop_oneof![Just(Effect::Allow), Just(Effect::Deny)],
    )
        .prop_map(|(id, principal_id, object, action, effect)| AclEntry {
            id: Uuid::from_u128(id),
            principal_id,
            object,
            action: action.to_owned(),
            effect,
        })
}

fn caller() -> impl Strategy<Value = Principal> {
    (
        pick(ids()),
        prop::sample::subsequence(ROLES.to_vec(), 0..=2),
        prop::sample::subsequence(ids(), 0..=2),
        prop::sample::subsequence(ids(), 0..=2),
        prop::sample::subsequence(ids(), 0..=2),
    )
        .prop_map(|(id, role_names, role_ids, admin_of, member_of)| Principal {
            id,
            role_names: role_names.into_iter().map(str::to_owned).collect(),
            role_ids,
            admin_of,
            member_of,
        })
}

#[derive(Clone, Debug)]
struct Ask {
    action: &'static str,
    object: Option<(Uuid, Option<Uuid>)>,
    acl_admins: Vec<&'static str>,
    acl_allow_always: Vec<&'static str>,
}

fn ask() -> impl Strategy<Value = Ask> {
    (
        pick(ACTIONS[..4].to_vec()),
        prop::option::of((pick(ids()), prop::option::of(pick(ids())))),
        prop::sample::subsequence(ROLES.to_vec(), 0..=1),
        prop::sample::subsequence(ROLES.to_vec(), 0..=1),
    )
        .prop_map(|(action, object, acl_admins, acl_allow_always)| Ask {
            action,
            object,
            acl_admins,
            acl_allow_always,
        })
}

impl Ask {
    fn request(&self) -> Request<'_> {
        Request {
            action: self.action,
            object: self.object,
            acl_admins: &self.acl_admins,
            acl_allow_always: &self.acl_allow_always,
        }
    }
}

/// DESIGN.md section 3, read literally, one rule after the other.
fn reference(caller: &Principal, ask: &Ask, entries: &[AclEntry]) -> bool {
    let has_role = |roles: &[&str]| caller.role_names.iter().any(|r| roles.contains(&r.as_str()));
    if has_role(&ask.acl_allow_always) {
        return true;
    }
    let mut mine = vec![caller.id, AUTHENTICATED];
    mine.extend(caller.role_ids.iter().chain(&caller.admin_of).chain(&caller.member_of));
    let object = ask.object.map(|(id, _)| id);
    let applies = |e: &AclEntry| {
        mine.contains(&e.principal_id)
            && (e.action == ask.action || e.action == "*")
            && (e.object.is_none() || e.object == object)
    };
    for e in entries {
        if e.effect == Effect::Deny && applies(e) {
            return false;
        }
    }
    if let Some((_, Some(owner))) = ask.object {
        if owner == caller.id || caller.admin_of.contains(&owner) {
            return true;
        }
        if ask.action == "read" && caller.member_of.contains(&owner) {
            return true;
        }
    }
    for e in entries {
        if e.effect == Effect::Allow && applies(e) {
            return true;
        }
    }
    has_role(&ask.acl_admins)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn agrees_with_the_reference(caller in caller(), ask in ask(), entries in prop::collection::vec(entry(), 0..8)) {
        let decision = decide(&caller, &ask.request(), &entries);
        prop_assert_eq!(decision.allowed, reference(&caller, &ask, &entries));
        prop_assert_eq!(decision.entry.is_some(), matches!(decision.step, fastsaas_core::acl::Step::DenyEntry | fastsaas_core::acl::Step::AllowEntry));
    }

    #[test]
    fn an_added_allow_never_removes_access(caller in caller(), ask in ask(), entries in prop::collection::vec(entry(), 0..8), extra in entry()) {
        let before = decide(&caller, &ask.request(), &entries).allowed;
        let mut more = entries.clone();
        more.push(AclEntry { effect: Effect::Allow, ..extra });
        prop_assert!(!before || decide(&caller, &ask.request(), &more).allowed);
    }

    #[test]
    fn an_added_deny_never_grants_access(caller in caller(), ask in ask(), entries in prop::collection::vec(entry(), 0..8), extra in entry()) {
        let before = decide(&caller, &ask.request(), &entries).allowed;
        let mut more = entries.clone();
        more.push(AclEntry { effect: Effect::Deny, ..extra });
        prop_assert!(before || !decide(&caller, &ask.request(), &more).allowed);
    }

    #[test]
    fn entry_order_never_matters(caller in caller(), ask in ask(), entries in prop::collection::vec(entry(), 0..8).prop_shuffle()) {
        let mut sorted = entries.clone();
        sorted.sort_by_key(|e| e.id);
        prop_assert_eq!(decide(&caller, &ask.request(), &entries), decide(&caller, &ask.request(), &sorted));
    }
}
