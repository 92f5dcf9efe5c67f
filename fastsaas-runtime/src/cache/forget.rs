//! What a committed change makes stale, and its text on the bus.

use uuid::Uuid;

/// What a committed change makes stale in every process's caches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Forget {
    /// One user's sessions, roles and memberships (a logout, a role or a
    /// membership given or taken, a new password, a deleted user).
    Caller(Uuid),
    /// Every caller (a role deleted, a type-wide ACL entry added or removed,
    /// an organization of many members deleted).
    Callers,
    /// The ACL entries on objects of a type naming a principal (one added
    /// or removed).
    Entries(String, Uuid),
    /// One object of a type (changed or deleted).
    Object(String, Uuid),
    /// Every object of a type (the collection cleared).
    Objects(String),
    /// Everything (an invalidation lost on its way: see `notify::bus`).
    Everything,
}

impl Forget {
    /// Whether it makes cached rows stale (the only things the shared
    /// second level holds).
    pub(crate) fn touches_rows(&self) -> bool {
        matches!(self, Forget::Object(..) | Forget::Objects(_) | Forget::Everything)
    }

    /// Its text on the bus.
    pub(crate) fn encode(&self) -> String {
        match self {
            Forget::Caller(user) => format!("caller:{user}"),
            Forget::Callers => "callers".to_owned(),
            Forget::Entries(type_name, principal) => format!("entries:{type_name}:{principal}"),
            Forget::Object(type_name, id) => format!("object:{type_name}:{id}"),
            Forget::Objects(type_name) => format!("objects:{type_name}"),
            Forget::Everything => "everything".to_owned(),
        }
    }

    /// The invalidation `text` encodes. A text this version cannot read
    /// (a newer replica's) forgets everything: too much, never too little.
    pub(crate) fn decode(text: &str) -> Forget {
        let decoded = match text.split_once(':') {
            None if text == "callers" => Some(Forget::Callers),
            Some(("caller", user)) => user.parse().ok().map(Forget::Caller),
            Some(("objects", type_name)) => Some(Forget::Objects(type_name.to_owned())),
            Some(("entries", rest)) => type_and_id(rest).map(|(type_name, id)| Forget::Entries(type_name, id)),
            Some(("object", rest)) => type_and_id(rest).map(|(type_name, id)| Forget::Object(type_name, id)),
            _ => None,
        };
        decoded.unwrap_or(Forget::Everything)
    }
}

/// An invalidation as the bus carries it: what to forget, and which
/// process's caches sent it. The sender forgot it before sending, so when
/// it hears its own it has nothing to do; forgetting again would only
/// throw away what its readers loaded since, for nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Invalidation {
    /// The caches that sent it (see [`super::Caches::id`]); `None` from a
    /// sender that does not say.
    pub(crate) sender: Option<Uuid>,
    pub(crate) forget: Forget,
    /// Whether the shared second level of the rows cache forgot it too, or
    /// has none (`false`: the sender could not apply it there, so every
    /// process distrusts what the second level holds).
    pub(crate) shared: bool,
}

impl Invalidation {
    /// Its text on the bus: `<sender> <forget>` (`<sender>! <forget>` when
    /// not `shared`), or the forget alone.
    pub(crate) fn encode(&self) -> String {
        match self.sender {
            Some(sender) if self.shared => format!("{sender} {}", self.forget.encode()),
            Some(sender) => format!("{sender}! {}", self.forget.encode()),
            None => self.forget.encode(),
        }
    }

    /// The invalidation `text` encodes; see [`Forget::decode`]. One with no
    /// sender counts as not `shared`: it may come from a version that did
    /// not apply it to the second level.
    pub(crate) fn decode(text: &str) -> Invalidation {
        let signed = text.split_once(' ').and_then(|(sender, forget)| {
            let (sender, shared) = match sender.strip_suffix('!') {
                Some(sender) => (sender, false),
                None => (sender, true),
            };
            Some((sender.parse().ok()?, shared, forget))
        });
        match signed {
            Some((sender, shared, forget)) => {
                Invalidation { sender: Some(sender), forget: Forget::decode(forget), shared }
            }
            None => Invalidation { sender: None, forget: Forget::decode(text), shared: false },
        }
    }
}

/// `Type:<uuid>`.
fn type_and_id(text: &str) -> Option<(String, Uuid)> {
    let (type_name, id) = text.rsplit_once(':')?;
    Some((type_name.to_owned(), id.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_invalidation_reads_back_as_written_and_garbage_forgets_everything() {
        let id = Uuid::new_v4();
        let all = [
            Forget::Caller(id),
            Forget::Callers,
            Forget::Entries("Agent".into(), id),
            Forget::Object("Agent".into(), id),
            Forget::Objects("Agent".into()),
            Forget::Everything,
        ];
        for forget in all {
            assert_eq!(Forget::decode(&forget.encode()), forget);
        }
        for garbage in ["", "caller:not-a-uuid", "object:Agent", "entries:Agent", "objects", "later:thing"] {
            assert_eq!(Forget::decode(garbage), Forget::Everything, "{garbage}");
        }
    }

    #[test]
    fn an_invalidation_reads_back_with_its_sender_or_without_one() {
        let sender = Uuid::new_v4();
        let object = Forget::Object("Agent".into(), Uuid::new_v4());
        for invalidation in [
            Invalidation { sender: Some(sender), forget: object.clone(), shared: true },
            Invalidation { sender: Some(sender), forget: object.clone(), shared: false },
            Invalidation { sender: None, forget: object.clone(), shared: false },
            Invalidation { sender: Some(sender), forget: Forget::Everything, shared: true },
        ] {
            assert_eq!(Invalidation::decode(&invalidation.encode()), invalidation);
        }
        let unsigned = Invalidation::decode("not-a-uuid object:Agent:x");
        assert_eq!(unsigned, Invalidation { sender: None, forget: Forget::Everything, shared: false });
    }
}
