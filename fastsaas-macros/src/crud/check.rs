//! The checks of a `#[derive(Crud)]` input: every cross-option rule is
//! enforced here, with each error on its token, all errors at once; what
//! passes becomes the typed model of `model.rs`.

use darling::FromDeriveInput;
use darling::util::SpannedValue;
use heck::ToSnakeCase;
use proc_macro2::Span;
use syn::{Attribute, DeriveInput, Expr, Ident, LitStr, Type};

use fastsaas_core::resource::{FRAMEWORK_COLUMNS, FRAMEWORK_PATHS, LIST_PARAMETERS};

use super::attr::{Bounds, CrudField, CrudInput, Number, References, Scope, Validate};
use super::model::{Access, Failure, Field, OnDeleteOption, OptionCheck, Reference, Resource, Rule};
use crate::text::doc_text;

/// The names the generated SeaORM items take in the expansion's scope.
const RESERVED_TYPE_NAMES: [&str; 6] = ["Model", "Entity", "Column", "ActiveModel", "PrimaryKey", "Relation"];

/// The operations of `ops(...)`.
pub(crate) const OPERATIONS: [&str; 6] = ["create", "read", "update", "delete", "list", "clear"];

/// The facade's path (`#[crud(crate = "...")]`, default `::fastsaas`),
/// even when other options of the input are wrong.
pub(crate) fn facade_path(input: &DeriveInput) -> syn::Path {
    CrudInput::from_derive_input(input)
        .ok()
        .and_then(|parsed| parsed.krate)
        .unwrap_or_else(|| syn::parse_quote!(::fastsaas))
}

/// Parses and checks `input`, collecting every error.
pub(crate) fn resource(input: &DeriveInput) -> Result<Resource, Failure> {
    check_shape(input)?;
    let mut errors = darling::Error::accumulator();
    let parsed = errors.handle(CrudInput::from_derive_input(input));
    let scope = errors.handle(scope(input));
    let (Some(parsed), Some(scope)) = (parsed, scope) else {
        // Both failures are in `errors`; a resource needs both to go on.
        return Err(errors.finish().err().unwrap_or_else(|| darling::Error::custom("invalid resource")).into());
    };
    if let Some(param) = parsed.generics.params.first() {
        errors.push(darling::Error::custom("a resource cannot be generic: it maps to one table").with_span(param));
    }
    let type_name = parsed.ident.to_string();
    if RESERVED_TYPE_NAMES.contains(&type_name.as_str()) {
        errors.push(
            darling::Error::custom(format!("`{type_name}` names a generated SeaORM item; rename the resource"))
                .with_span(&parsed.ident),
        );
    }
    let name = match &parsed.name {
        Some(name) => {
            let valid = name.starts_with(|c: char| c.is_ascii_alphabetic())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                errors.push(
                    darling::Error::custom(
                        "a resource name takes letters, digits and `_`, starting with a letter, e.g. \"Agent\"",
                    )
                    .with_span(&name.span()),
                );
            }
            name.as_str().to_owned()
        }
        None => type_name,
    };
    let table = match &parsed.table {
        Some(table) => {
            if !is_identifier(table) {
                errors.push(
                    darling::Error::custom(
                        "a table name takes lowercase letters, digits and `_`, starting with a letter",
                    )
                    .with_span(&table.span()),
                );
            } else if table.starts_with("fastsaas_") {
                errors.push(
                    darling::Error::custom(
                        "tables starting with `fastsaas_` belong to the framework; pick another name",
                    )
                    .with_span(&table.span()),
                );
            }
            table.as_str().to_owned()
        }
        None => plural(&name.to_snake_case()),
    };
    let ops = match &parsed.ops {
        Some(list) => errors.handle(operations(list, option_span(&input.attrs, "ops"))).unwrap_or_default(),
        None => OPERATIONS.iter().map(|op| Ident::new(op, Span::call_site())).collect(),
    };
    let fields = parsed
        .data
        .take_struct()
        .map(|fields| fields.fields)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|field| errors.handle(self::field(field)))
        .collect::<Vec<Field>>();
    expansions_apart(&fields, &mut errors);
    if parsed.templated.is_present() {
        let span = parsed.templated.span();
        if !fields.iter().any(|field| field.access == Access::ReadWrite) {
            errors.push(
                darling::Error::custom(
                    "`templated` needs a field that is writable and not write_only: templates hold values of such fields",
                )
                .with_span(&span),
            );
        }
        if !ops.iter().any(|op| op == "create") {
            errors.push(
                darling::Error::custom("`templated` needs the `create` operation: a clone is a create")
                    .with_span(&span),
            );
        }
    }
    let cache_ttl_secs = parsed.cache.as_ref().map(|cache| {
        let ttl_secs = &cache.ttl_secs;
        if !(1..=MAX_CACHE_TTL_SECS).contains(&**ttl_secs) {
            errors.push(
                darling::Error::custom(format!(
                    "`cache(ttl_secs = ..)` takes 1 to {MAX_CACHE_TTL_SECS} seconds (a day)"
                ))
                .with_span(&ttl_secs.span()),
            );
        }
        **ttl_secs
    });
    let krate = parsed.krate.clone().unwrap_or_else(|| syn::parse_quote!(::fastsaas));
    let doc = doc_text(&parsed.attrs);
    if let Err(errors) = errors.finish() {
        return Err(Failure { errors, fields });
    }
    Ok(Resource {
        ident: parsed.ident,
        name,
        krate,
        path: scope.path.value(),
        table,
        ops,
        acl_admins: scope.options.acl_admins.0,
        acl_allow_always: scope.options.acl_allow_always.0,
        authenticated: parsed.authenticated.is_present(),
        templated: parsed.templated.is_present(),
        notify: parsed.notify.is_present(),
        cache_ttl_secs,
        doc,
        fields,
    })
}

/// The longest a row may be cached, in seconds (a day).
const MAX_CACHE_TTL_SECS: u64 = 24 * 60 * 60;

/// A resource is a struct with named fields: one column per field.
fn check_shape(input: &DeriveInput) -> darling::Result<()> {
    let problem = match &input.data {
        syn::Data::Struct(data) if matches!(data.fields, syn::Fields::Named(_)) => return Ok(()),
        syn::Data::Struct(_) => {
            "a resource is a struct with named fields, one per column; this one has none or is a tuple struct"
        }
        syn::Data::Enum(_) => "a resource is a struct with named fields, one per column, not an enum",
        syn::Data::Union(_) => "a resource is a struct with named fields, one per column, not a union",
    };
    Err(darling::Error::custom(problem).with_span(&input.ident))
}

fn scope(input: &DeriveInput) -> darling::Result<Scope> {
    let mut scopes = input.attrs.iter().filter(|attr| attr.path().is_ident("scope"));
    let Some(attr) = scopes.next() else {
        return Err(darling::Error::custom(
            "a resource needs its path: add #[scope(\"/items\")] (with the path its routes live under)",
        )
        .with_span(&input.ident));
    };
    if let Some(again) = scopes.next() {
        return Err(darling::Error::custom("duplicate #[scope]: a resource has one path").with_span(again.path()));
    }
    let scope = Scope::from_attribute(attr)?;
    let path = scope.path.value();
    let problem = if !path.starts_with('/') {
        Some("the scope path must start with `/`, e.g. \"/items\"".to_owned())
    } else if path.len() > 1 && path.ends_with('/') {
        Some("the scope path must not end with `/`".to_owned())
    } else if path == "/" {
        Some("the scope path needs a name after `/`, e.g. \"/items\"".to_owned())
    } else if !path[1..].split('/').all(is_path_segment) {
        Some("each segment of the scope path takes letters, digits, `-`, `_`, `.` or `~`".to_owned())
    } else {
        let first = path[1..].split('/').next();
        FRAMEWORK_PATHS
            .iter()
            .find(|taken| first == Some(**taken))
            .map(|taken| format!("`/{taken}` belongs to the framework's own routes; pick another scope path"))
    };
    match problem {
        Some(message) => Err(darling::Error::custom(message).with_span(&scope.path)),
        None => Ok(scope),
    }
}

fn is_path_segment(segment: &str) -> bool {
    !segment.is_empty() && segment.chars().all(|c| c.is_ascii_alphanumeric() || "-_.~".contains(c))
}

fn is_identifier(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The English plural of a snake_case name, for default table names.
fn plural(name: &str) -> String {
    if ["s", "x", "z", "ch", "sh"].iter().any(|end| name.ends_with(end)) {
        format!("{name}es")
    } else if name.ends_with('y') && !name.ends_with("ay") && !name.ends_with("ey") && !name.ends_with("oy") {
        format!("{}ies", &name[..name.len() - 1])
    } else {
        format!("{name}s")
    }
}

/// The span of `name` in `#[crud(name ...)]` on the struct, for errors about
/// the option as a whole.
fn option_span(attrs: &[Attribute], name: &str) -> Option<Span> {
    let mut found = None;
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("crud")) {
        // Errors here were already reported by darling's parse.
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident(name) {
                found = meta.path.get_ident().map(Ident::span);
            }
            // Skip the option's `= value` or `(list)`, whatever it holds.
            if meta.input.peek(syn::Token![=]) {
                let _: Expr = meta.value()?.parse()?;
            } else if meta.input.peek(syn::token::Paren) {
                let _: proc_macro2::TokenTree = meta.input.parse()?;
            }
            Ok(())
        });
    }
    found
}

fn operations(list: &darling::util::PathList, span: Option<Span>) -> darling::Result<Vec<Ident>> {
    let mut errors = darling::Error::accumulator();
    let mut ops: Vec<Ident> = Vec::new();
    for path in list.iter() {
        let Some(ident) = path.get_ident() else {
            errors.push(darling::Error::custom("expected an operation name").with_span(path));
            continue;
        };
        let name = ident.to_string();
        if !OPERATIONS.contains(&name.as_str()) {
            let hint = closest(&name, &OPERATIONS).map(|op| format!("; did you mean `{op}`?")).unwrap_or_default();
            errors.push(
                darling::Error::custom(format!(
                    "unknown operation `{name}`; operations: {}{hint}",
                    OPERATIONS.join(", ")
                ))
                .with_span(ident),
            );
        } else if ops.iter().any(|op| op == ident) {
            errors.push(darling::Error::custom(format!("`{name}` is listed twice")).with_span(ident));
        } else {
            ops.push(ident.clone());
        }
    }
    if list.is_empty() {
        let error = darling::Error::custom("a resource needs at least one operation; leave `ops` out for all six");
        errors.push(match span {
            Some(span) => error.with_span(&span),
            None => error,
        });
    }
    errors.finish_with(ops)
}

fn field(field: CrudField) -> darling::Result<Field> {
    let mut errors = darling::Error::accumulator();
    let ident = field.ident.clone().ok_or_else(|| darling::Error::custom("a resource's fields need names"))?;
    let name = ident.to_string().trim_start_matches("r#").to_owned();
    if FRAMEWORK_COLUMNS.contains(&name.as_str()) {
        errors.push(
            darling::Error::custom(if name == "template_id" {
                "`template_id` is the column the framework adds to templated resources; rename this field".to_owned()
            } else {
                format!("`{name}` is a column the framework adds to every resource; rename this field")
            })
            .with_span(&ident),
        );
    }
    if field.filter.is_present() && LIST_PARAMETERS.contains(&name.as_str()) {
        errors.push(
            darling::Error::custom(format!(
                "`?{name}=` is a parameter of every list, so `{name}` cannot be a filter; rename the field or drop `filter`"
            ))
            .with_span(&field.filter.span()),
        );
    }
    let (nullable, inner_ty) = match option_inner(&field.ty) {
        Some(inner) => (true, inner.clone()),
        None => (false, field.ty.clone()),
    };
    if !matches!(inner_ty, Type::Path(_)) {
        errors.push(
            darling::Error::custom("unsupported field type: use an owned type such as String, i64, Vec<T> or an enum")
                .with_span(&field.ty),
        );
    }
    let mut option_checks: Vec<OptionCheck> = lookup_options(&field)
        .into_iter()
        .filter_map(|(span, _, rule)| Some(OptionCheck { span: span?, rule }))
        .collect();
    let access = access(&field, &mut errors);
    let default = field.default.as_ref().map(|value| value.0.clone());
    match (&default, access) {
        (None, Access::ReadOnly | Access::Hidden) if !nullable => {
            let flag = if access == Access::ReadOnly { &field.read_only } else { &field.hidden };
            errors.push(
                darling::Error::custom(format!(
                    "the server sets `{name}`, so it needs `default = ...` or an Option type"
                ))
                .with_span(&flag.span()),
            );
        }
        (Some(value), _) if nullable && access.is_writable() => errors.push(
            darling::Error::custom("an Option field that clients set already defaults to null; remove `default`")
                .with_span(value),
        ),
        _ => {}
    }
    if field.encrypted.is_present() {
        encryptable(&field, access, &mut errors);
        option_checks.push(OptionCheck { span: field.encrypted.span(), rule: "EncryptedApplies" });
    }
    let reference = field.references.as_ref().map(|references| {
        option_checks.push(OptionCheck { span: references.span(), rule: "ReferencesApplies" });
        reference(references, nullable, &mut errors)
    });
    let per_owner = field.unique.as_ref().is_some_and(|unique| unique.per_owner.is_present());
    let rules =
        field.validate.as_ref().map(|validate| rules(validate, &mut option_checks, &mut errors)).unwrap_or_default();
    errors.finish()?;
    Ok(Field {
        doc: doc_text(&field.attrs),
        ident,
        name,
        ty: field.ty,
        inner_ty,
        nullable,
        access,
        default,
        unique: field.unique.is_some() && !per_owner,
        unique_per_owner: per_owner,
        encrypted: field.encrypted.is_present(),
        // A reference is looked up by the parent's id: listing a parent's
        // children, and refusing or cascading its deletion.
        index: field.index.is_present() || reference.is_some(),
        filter: field.filter.is_present(),
        sort: field.sort.is_present(),
        rules,
        option_checks,
        reference,
    })
}

/// Two expandable references that `?expand=` would know by one name
/// (`project_id` and `project` both expand as `project`).
fn expansions_apart(fields: &[Field], errors: &mut darling::error::Accumulator) {
    let expansion = |field: &Field| fastsaas_core::field::expansion_of(&field.name).to_owned();
    let expandable: Vec<&Field> =
        fields.iter().filter(|field| field.reference.as_ref().is_some_and(|reference| reference.expand)).collect();
    for (index, field) in expandable.iter().enumerate() {
        let name = expansion(field);
        if let Some(first) = expandable[..index].iter().find(|earlier| expansion(earlier) == name) {
            errors.push(
                darling::Error::custom(format!(
                    "`{}` and `{}` would both expand as `{name}`; rename one, or drop `expand` from one",
                    first.name, field.name
                ))
                .with_span(&field.ident),
            );
        }
    }
}

/// `references(...)` checked: an action that is a name, `set_null` only on
/// a field that can be null.
fn reference(
    references: &SpannedValue<References>,
    nullable: bool,
    errors: &mut darling::error::Accumulator,
) -> Reference {
    let action = references.action.as_ref().map_or_else(|| "read".to_owned(), LitStr::value);
    if let Some(written) = &references.action
        && !is_identifier(&action)
    {
        errors.push(
            darling::Error::custom("an action is a snake_case name, e.g. \"read\" or \"attach\"").with_span(written),
        );
    }
    let on_delete = references.on_delete.as_ref().map_or(OnDeleteOption::Restrict, |on_delete| **on_delete);
    if let Some(written) = &references.on_delete
        && on_delete == OnDeleteOption::SetNull
        && !nullable
    {
        errors.push(
            darling::Error::custom("`on_delete = set_null` needs a field that can be null: make it `Option<Uuid>`")
                .with_span(&written.span()),
        );
    }
    Reference { target: references.target.clone(), action, on_delete, expand: references.expand.is_present() }
}

/// The options that make the database compare a field's values (`filter`,
/// `sort`, `unique`, `index`), each with its span when present and the
/// trait that says whether it applies to a type.
fn lookup_options(field: &CrudField) -> [(Option<Span>, &'static str, &'static str); 4] {
    let present = |flag: &darling::util::Flag| flag.is_present().then(|| flag.span());
    [
        (present(&field.filter), "filter", "FilterApplies"),
        (present(&field.sort), "sort", "SortApplies"),
        (field.unique.as_ref().map(darling::util::SpannedValue::span), "unique", "UniqueApplies"),
        (present(&field.index), "index", "IndexApplies"),
    ]
}

/// The errors of `encrypted` beside options or an access it excludes (the
/// type's fitness is the type system's to decide).
fn encryptable(field: &CrudField, access: Access, errors: &mut darling::error::Accumulator) {
    let span = field.encrypted.span();
    if !matches!(access, Access::WriteOnly | Access::Hidden) {
        errors.push(
            darling::Error::custom(
                "`encrypted` applies to `write_only` and `hidden` fields: a value clients read back is no secret",
            )
            .with_span(&span),
        );
    }
    for (option_span, option, _) in lookup_options(field) {
        if let Some(option_span) = option_span {
            errors.push(
                darling::Error::custom(format!(
                    "`{option}` cannot apply to an encrypted field: equal values are stored as different ciphertexts"
                ))
                .with_span(&option_span),
            );
        }
    }
}

fn access(field: &CrudField, errors: &mut darling::error::Accumulator) -> Access {
    let set: Vec<(&darling::util::Flag, Access, &str)> = [
        (&field.read_only, Access::ReadOnly, "read_only"),
        (&field.write_only, Access::WriteOnly, "write_only"),
        (&field.hidden, Access::Hidden, "hidden"),
    ]
    .into_iter()
    .filter(|(flag, _, _)| flag.is_present())
    .collect();
    if let [(_, _, first), rest @ ..] = set.as_slice() {
        for (flag, _, name) in rest {
            errors.push(
                darling::Error::custom(format!("`{name}` conflicts with `{first}`: a field has one access mode"))
                    .with_span(&flag.span()),
            );
        }
    }
    set.first().map_or(Access::ReadWrite, |(_, access, _)| *access)
}

fn rules(validate: &Validate, checks: &mut Vec<OptionCheck>, errors: &mut darling::error::Accumulator) -> Vec<Rule> {
    let mut rules = Vec::new();
    if let Some(length) = &validate.length {
        let (min, max) = bounds(length, errors, true);
        rules.push(Rule::Length { min: min.map(|n| n as u64), max: max.map(|n| n as u64) });
        checks.push(OptionCheck { span: length.span(), rule: "LengthApplies" });
    }
    if let Some(range) = &validate.range {
        let (min, max) = bounds(range, errors, false);
        rules.push(Rule::Range { min, max });
        checks.push(OptionCheck { span: range.span(), rule: "RangeApplies" });
    }
    if validate.email.is_present() {
        rules.push(Rule::Email);
        checks.push(OptionCheck { span: validate.email.span(), rule: "EmailApplies" });
    }
    if let Some(pattern) = &validate.pattern {
        checks.push(OptionCheck { span: pattern.span(), rule: "PatternApplies" });
        match regex_syntax::Parser::new().parse(pattern.as_str()) {
            Ok(_) => rules.push(Rule::Pattern(pattern.as_str().to_owned())),
            Err(err) => errors
                .push(darling::Error::custom(format!("invalid regular expression: {err}")).with_span(&pattern.span())),
        }
    }
    rules
}

/// Checks `min <= max` (and, for lengths, whole non-negative numbers).
fn bounds(
    bounds: &darling::util::SpannedValue<Bounds>,
    errors: &mut darling::error::Accumulator,
    count: bool,
) -> (Option<f64>, Option<f64>) {
    let check = |number: Option<Number>, errors: &mut darling::error::Accumulator| {
        let number = number?;
        if count && (!number.is_integer || number.value < 0.0) {
            errors.push(darling::Error::custom("a length is a whole number, 0 or more").with_span(&number.span));
            return None;
        }
        Some(number.value)
    };
    let min = check(bounds.min, errors);
    let max = check(bounds.max, errors);
    if let (Some(low), Some(high)) = (min, max)
        && low > high
    {
        errors.push(darling::Error::custom("`min` is greater than `max`").with_span(&bounds.span()));
    }
    if bounds.min.is_none() && bounds.max.is_none() {
        errors.push(darling::Error::custom("give `min`, `max` or both").with_span(&bounds.span()));
    }
    (min, max)
}

/// The candidate within two edits of `word`, if any.
fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .copied()
        .map(|candidate| (edit_distance(word, candidate), candidate))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, c)| c)
}

/// The Levenshtein distance between two short words.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// `T` if `ty` is `Option<T>` (or a path ending in `Option<T>`).
fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "Option" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else { return None };
    match args.args.first()? {
        syn::GenericArgument::Type(inner) if args.args.len() == 1 => Some(inner),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::plural;

    #[test]
    fn plurals_of_table_names() {
        assert_eq!(plural("item"), "items");
        assert_eq!(plural("address"), "addresses");
        assert_eq!(plural("company"), "companies");
        assert_eq!(plural("key"), "keys");
        assert_eq!(plural("batch"), "batches");
    }

    #[test]
    fn suggestions_for_misspelt_operations() {
        assert_eq!(super::closest("raed", &super::OPERATIONS), Some("read"));
        assert_eq!(super::closest("lst", &super::OPERATIONS), Some("list"));
        assert_eq!(super::closest("fetch", &super::OPERATIONS), None);
    }
}
