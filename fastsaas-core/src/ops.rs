//! The six built-in operations of a resource and sets of them.

use std::fmt;

/// One built-in operation of a resource's REST routes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `POST /items`
    Create,
    /// `GET /items/{id}`
    Read,
    /// `PATCH /items/{id}` and `PUT /items/{id}`
    Update,
    /// `DELETE /items/{id}`
    Delete,
    /// `GET /items`
    List,
    /// `DELETE /items`
    Clear,
}

impl Operation {
    /// Every operation, in route-table order.
    pub const ALL: [Operation; 6] =
        [Operation::Create, Operation::Read, Operation::Update, Operation::Delete, Operation::List, Operation::Clear];

    /// The name used in attributes (`ops(create, read)`) and ACL entries.
    pub const fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Read => "read",
            Operation::Update => "update",
            Operation::Delete => "delete",
            Operation::List => "list",
            Operation::Clear => "clear",
        }
    }

    /// Parses an operation name, as written in `ops(...)`.
    ///
    /// ```
    /// use fastsaas_core::Operation;
    /// assert_eq!(Operation::from_name("list"), Some(Operation::List));
    /// assert_eq!(Operation::from_name("lst"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|op| op.as_str() == name)
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of operations, as enabled by `#[crud(ops(...))]`.
///
/// ```
/// use fastsaas_core::{Operation, OperationSet};
/// let ops = OperationSet::EMPTY.with(Operation::Read).with(Operation::List);
/// assert!(ops.contains(Operation::Read));
/// assert!(!ops.contains(Operation::Clear));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OperationSet(u8);

impl OperationSet {
    /// No operation enabled.
    pub const EMPTY: OperationSet = OperationSet(0);
    /// All six operations enabled (the default).
    pub const ALL: OperationSet = OperationSet(0b11_1111);

    /// This set plus `op`.
    #[must_use]
    pub const fn with(self, op: Operation) -> OperationSet {
        OperationSet(self.0 | op.bit())
    }

    /// Whether `op` is in the set.
    pub const fn contains(self, op: Operation) -> bool {
        self.0 & op.bit() != 0
    }

    /// The operations in the set, in route-table order.
    pub fn iter(self) -> impl Iterator<Item = Operation> {
        Operation::ALL.into_iter().filter(move |op| self.contains(*op))
    }
}
