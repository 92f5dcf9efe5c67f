//! The validation rules of `#[crud(validate(...))]`, applied to typed values.

use std::collections::{BTreeMap, HashMap};
use std::sync::{LazyLock, RwLock};

use fastsaas_core::error::FieldErrorCode;
use fastsaas_core::{FieldError, FieldSpec, Rule};
use regex::Regex;

/// What the rules can measure of a value. Types a rule does not apply to
/// answer `None`; the derive rejects such combinations at compile time.
pub trait Checkable {
    /// Characters of a string, items of a list or map.
    fn length(&self) -> Option<u64> {
        None
    }
    /// The value of a number.
    fn number(&self) -> Option<f64> {
        None
    }
    /// The text of a string.
    fn text(&self) -> Option<&str> {
        None
    }
    /// `false` for `None`, which no rule constrains.
    fn is_present(&self) -> bool {
        true
    }
}

impl Checkable for String {
    fn length(&self) -> Option<u64> {
        Some(self.chars().count() as u64)
    }
    fn text(&self) -> Option<&str> {
        Some(self)
    }
}

impl<T> Checkable for Vec<T> {
    fn length(&self) -> Option<u64> {
        Some(self.len() as u64)
    }
}

impl<T> Checkable for HashMap<String, T> {
    fn length(&self) -> Option<u64> {
        Some(self.len() as u64)
    }
}

impl<T> Checkable for BTreeMap<String, T> {
    fn length(&self) -> Option<u64> {
        Some(self.len() as u64)
    }
}

macro_rules! checkable_number {
    ($($ty:ty),*) => {$(
        impl Checkable for $ty {
            fn number(&self) -> Option<f64> {
                Some(*self as f64)
            }
        }
    )*};
}
checkable_number!(i32, i64, f64);

/// A JSON value, as a body carries it before it is typed: so that a body
/// with a mistyped field still has its other fields' rules checked, and the
/// client hears of every problem at once.
impl Checkable for serde_json::Value {
    fn length(&self) -> Option<u64> {
        match self {
            serde_json::Value::String(text) => Some(text.chars().count() as u64),
            serde_json::Value::Array(items) => Some(items.len() as u64),
            serde_json::Value::Object(members) => Some(members.len() as u64),
            _ => None,
        }
    }
    fn number(&self) -> Option<f64> {
        self.as_f64()
    }
    fn text(&self) -> Option<&str> {
        self.as_str()
    }
    fn is_present(&self) -> bool {
        !self.is_null()
    }
}

impl<T: Checkable> Checkable for Option<T> {
    fn length(&self) -> Option<u64> {
        self.as_ref().and_then(T::length)
    }
    fn number(&self) -> Option<f64> {
        self.as_ref().and_then(T::number)
    }
    fn text(&self) -> Option<&str> {
        self.as_ref().and_then(T::text)
    }
    fn is_present(&self) -> bool {
        self.is_some()
    }
}

/// Applies `field`'s rules to `value`, adding one error per failed rule.
///
/// ```
/// use fastsaas_core::{FieldKind, FieldSpec, Rule};
/// use fastsaas_runtime::validate::check;
///
/// const NAME: FieldSpec =
///     FieldSpec::new("name", FieldKind::Text).with_rules(&[Rule::Length { min: Some(1), max: Some(3) }]);
/// let mut errors = Vec::new();
/// check(&NAME, &"four".to_owned(), &mut errors);
/// assert_eq!(errors[0].message, "must be at most 3 characters long");
/// ```
pub fn check<V: Checkable + ?Sized>(field: &FieldSpec, value: &V, errors: &mut Vec<FieldError>) {
    if !value.is_present() {
        return;
    }
    for rule in field.rules {
        if let Some(message) = failure(rule, value) {
            errors.push(FieldError::new(field.name, FieldErrorCode::Invalid, message));
        }
    }
}

fn failure<V: Checkable + ?Sized>(rule: &Rule, value: &V) -> Option<String> {
    match *rule {
        Rule::Length { min, max } => {
            let length = value.length()?;
            let unit = if value.text().is_some() { "characters long" } else { "items long" };
            match (min, max) {
                (Some(min), _) if length < min => Some(format!("must be at least {min} {unit}")),
                (_, Some(max)) if length > max => Some(format!("must be at most {max} {unit}")),
                _ => None,
            }
        }
        Rule::Range { min, max } => {
            let number = value.number()?;
            match (min, max) {
                (Some(min), _) if number < min => Some(format!("must be at least {min}")),
                (_, Some(max)) if number > max => Some(format!("must be at most {max}")),
                _ => None,
            }
        }
        Rule::Email => {
            let text = value.text()?;
            (!email_address::EmailAddress::is_valid(text)).then(|| "must be an e-mail address".to_owned())
        }
        Rule::Pattern(pattern) => {
            let text = value.text()?;
            match matches_pattern(pattern, text) {
                Some(true) => None,
                Some(false) => Some(format!("must match the pattern `{pattern}`")),
                None => Some(format!("cannot be checked: the pattern `{pattern}` is not a valid regular expression")),
            }
        }
    }
}

/// Whether all of `text` matches `pattern`; `None` if the pattern is invalid
/// (the derive checks patterns at compile time, so this is not expected).
fn matches_pattern(pattern: &'static str, text: &str) -> Option<bool> {
    static COMPILED: LazyLock<RwLock<HashMap<&'static str, Regex>>> = LazyLock::new(Default::default);
    if let Ok(cache) = COMPILED.read()
        && let Some(regex) = cache.get(pattern)
    {
        return Some(regex.is_match(text));
    }
    let regex = Regex::new(&format!("^(?:{pattern})$")).ok()?;
    let matched = regex.is_match(text);
    if let Ok(mut cache) = COMPILED.write() {
        cache.insert(pattern, regex);
    }
    Some(matched)
}
