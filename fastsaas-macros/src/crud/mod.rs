//! `#[derive(Crud)]`, one stage per file: the attribute options (`attr`),
//! the checks (`check`), which build the typed view (`model`), and the
//! generated code (`expand`).

mod attr;
mod check;
mod expand;
mod model;

pub(crate) use expand::crud;
