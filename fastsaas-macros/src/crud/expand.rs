//! Code generation for `#[derive(Crud)]`: a SeaORM entity, the create and
//! patch bodies, the static description, and the `Resource` glue. All logic
//! lives in `fastsaas-runtime`; this emits data and one-line calls.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{DeriveInput, LitStr};

use super::check;
use super::model::{Access, Failure, Field, OnDeleteOption, Reference, Resource, Rule};
use crate::text::capitalized;

/// Expands `#[derive(Crud)]`.
pub(crate) fn crud(input: &DeriveInput) -> syn::Result<TokenStream> {
    match check::resource(input) {
        Ok(resource) => Ok(generate(&resource)),
        Err(failure) => Ok(failed(input, failure)),
    }
}

/// The errors of a failed derive, the type checks of its sound fields (so
/// a mistyped option shows beside the other errors), and stub impls of the
/// resource traits so that the type's later uses add no second error. A
/// generic type gets no stub: its error already says a resource cannot be
/// generic.
fn failed(input: &DeriveInput, failure: Failure) -> TokenStream {
    let mut output: TokenStream =
        failure.errors.into_iter().map(|error| syn::Error::from(error).to_compile_error()).collect();
    let krate = check::facade_path(input);
    let private = quote!(#krate::__private);
    let checks = failure.fields.iter().map(|field| type_checks(&private, field));
    output.extend(quote!(const _: () = { #(#checks)* };));
    if input.generics.params.is_empty() {
        let ident = &input.ident;
        output.extend(quote!(#private::stub_resource!(#ident);));
    }
    output
}

fn generate(resource: &Resource) -> TokenStream {
    let krate = &resource.krate;
    let private = quote!(#krate::__private);
    let ident = &resource.ident;
    let serde_crate = LitStr::new(&format!("{}::__private::serde", path_text(krate)), Span::call_site());
    let present = LitStr::new(&format!("{}::__private::present", path_text(krate)), Span::call_site());
    let table = &resource.table;
    let fields = &resource.fields;

    // SeaORM's derive reads column types from the spelling of field types,
    // so each stored type gets a plain name. The array length makes a type
    // that is no `Field` one error, not one per use of the alias: a
    // failed constant turns the whole type into rustc's error type.
    let stored_aliases = fields.iter().map(|field| {
        let (alias, inner) = (stored_alias(field), &field.inner_ty);
        let stored = quote_spanned!(inner.span()=>
            <[#inner; { <#inner as #private::Field>::NULLABLE as usize }] as #private::StoredType>::Stored
        );
        quote!(#[allow(non_camel_case_types)] type #alias = #stored;)
    });
    let type_checks = fields.iter().map(|field| type_checks(&private, field));
    let model_fields = fields.iter().map(|field| {
        let name = &field.ident;
        let alias = stored_alias(field);
        let stored = if field.nullable { quote!(Option<#alias>) } else { quote!(#alias) };
        let mut attrs = Vec::new();
        if field.unique {
            attrs.push(quote!(#[sea_orm(unique)]));
        }
        if field.index {
            attrs.push(quote!(#[sea_orm(indexed)]));
        }
        if matches!(field.access, Access::WriteOnly | Access::Hidden) {
            attrs.push(quote!(#[serde(skip)]));
        }
        quote!(#(#attrs)* pub #name: #stored)
    });

    let writable: Vec<&Field> = fields.iter().filter(|field| field.access.is_writable()).collect();
    let create_fields = writable.iter().map(|field| {
        let (name, ty) = (&field.ident, &field.ty);
        if field.access == Access::WriteOnly {
            // Absent and `null` differ: a PUT without a secret keeps it.
            quote!(#[serde(default, deserialize_with = #present)] pub #name: Option<#ty>)
        } else if field.nullable {
            quote!(#[serde(default)] pub #name: #ty)
        } else if field.default.is_some() {
            quote!(#[serde(default)] pub #name: Option<#ty>)
        } else {
            quote!(pub #name: #ty)
        }
    });
    let patch_fields = writable.iter().map(|field| {
        let (name, ty) = (&field.ident, &field.ty);
        quote!(#[serde(default, deserialize_with = #present)] pub #name: Option<#ty>)
    });

    // A create sets every column; a PUT only the writable ones, keeping a
    // write-only value the body leaves out (a client never reads it back).
    let new_values = fields.iter().map(|field| {
        let name = &field.ident;
        let value = if field.access == Access::WriteOnly {
            let sent = into_stored(&private, field, quote!(value));
            let absent = match (&field.default, field.nullable) {
                (None, false) => quote!(sea_orm::ActiveValue::NotSet),
                _ => {
                    let default = default_value(&private, field);
                    quote!(sea_orm::ActiveValue::Set(#default))
                }
            };
            quote!(match input.#name { Some(value) => sea_orm::ActiveValue::Set(#sent), None => #absent })
        } else if field.access.is_writable() {
            let sent = sent_value(&private, field);
            quote!(sea_orm::ActiveValue::Set(#sent))
        } else {
            let default = default_value(&private, field);
            quote!(sea_orm::ActiveValue::Set(#default))
        };
        quote!(#name: #value)
    });
    // A sealed value is made per row; a default cannot be stored for all.
    let defaults = fields.iter().filter(|field| field.default.is_some() && !field.encrypted).map(|field| {
        let (name, default) = (&field.ident, default_value(&private, field));
        quote!(#name: sea_orm::ActiveValue::Set(#default))
    });
    let replaced = writable.iter().map(|field| {
        let name = &field.ident;
        if field.access == Access::WriteOnly {
            let sent = into_stored(&private, field, quote!(value));
            quote!(#name: match input.#name {
                Some(value) => sea_orm::ActiveValue::Set(#sent),
                None => sea_orm::ActiveValue::NotSet,
            })
        } else {
            let value = sent_value(&private, field);
            quote!(#name: sea_orm::ActiveValue::Set(#value))
        }
    });
    let patched = writable.iter().map(|field| {
        let name = &field.ident;
        let value = into_stored(&private, field, quote!(value));
        quote! {
            if let Some(value) = input.#name {
                row.#name = sea_orm::ActiveValue::Set(#value);
            }
        }
    });
    let index_of = |field: &Field| fields.iter().position(|f| f.ident == field.ident).unwrap_or_default();
    let checked: Vec<&Field> = writable.iter().copied().filter(|field| !field.rules.is_empty()).collect();
    let create_checks = checked.iter().map(|field| {
        let (name, index) = (&field.ident, index_of(field));
        if field.default.is_some() || field.access == Access::WriteOnly {
            quote!(if let Some(value) = &input.#name { #private::check(&FIELDS[#index], value, errors); })
        } else {
            quote!(#private::check(&FIELDS[#index], &input.#name, errors);)
        }
    });
    let patch_checks = checked.iter().map(|field| {
        let (name, index) = (&field.ident, index_of(field));
        quote!(if let Some(value) = &input.#name { #private::check(&FIELDS[#index], value, errors); })
    });
    // The member names take the type's span too: rustc reports a type that
    // is no `Field` on the whole `name: value`, which would be a second
    // error beside the one on the type.
    let decoded = fields.iter().map(|field| {
        let (name, ty) = (on_type_span(field), &field.ty);
        let value = quote_spanned!(ty.span()=> <#ty as #private::Field>::from_stored(model.#name)?);
        quote!(#name: #value)
    });
    let stored = fields.iter().map(|field| {
        let name = on_type_span(field);
        let value = into_stored(&private, field, quote!(data.#name));
        quote!(#name: #value)
    });
    let field_checks = fields.iter().filter(|field| !field.rules.is_empty()).map(|field| {
        let (name, index) = (&field.ident, index_of(field));
        quote!(#private::check(&FIELDS[#index], &self.#name, errors);)
    });
    let visible =
        fields.iter().filter(|field| !matches!(field.access, Access::WriteOnly | Access::Hidden)).map(|field| {
            let (name, ident) = (&field.name, &field.ident);
            quote!(#private::serde::ser::SerializeMap::serialize_entry(map, #name, &self.#ident)?;)
        });
    let specs = fields.iter().map(|field| field_spec(&private, field));
    let field_count = fields.len();
    let ops = resource.ops.iter().map(|op| {
        let variant = format_ident!("{}", capitalized(&op.to_string()), span = op.span());
        quote!(.with(#private::Operation::#variant))
    });
    let (path, acl_admins, acl_allow_always) = (&resource.path, &resource.acl_admins, &resource.acl_allow_always);
    // A type without templates stores no `template_id`.
    let template_unused = (!resource.templated).then(|| quote!(let _ = template_id;));
    let (name, doc) = (&resource.name, &resource.doc);
    let Templates {
        column: template_column,
        on_create: template_on_create,
        of_model: template_of_model,
        into_model: template_into_model,
        spec: templates_spec,
        mount: template_routes,
        items: template_items,
    } = templates(&private, resource);
    let mut resource_options = TokenStream::new();
    if !acl_admins.is_empty() {
        resource_options.extend(quote!(.with_acl_admins(&[#(#acl_admins),*])));
    }
    if !acl_allow_always.is_empty() {
        resource_options.extend(quote!(.with_acl_allow_always(&[#(#acl_allow_always),*])));
    }
    if resource.authenticated {
        resource_options.extend(quote!(.with_authenticated()));
    }
    if resource.notify {
        resource_options.extend(quote!(.with_notify()));
    }
    if let Some(ttl_secs) = resource.cache_ttl_secs {
        resource_options.extend(quote!(.with_cache(#ttl_secs)));
    }
    resource_options.extend(templates_spec);

    quote! {
        #[doc(hidden)]
        const _: () = {
            // SeaORM's derives name `sea_orm::...`, prelude items such as
            // `Result` and `Vec` bare, and detect nullable columns by the
            // spelling `Option<`: all of them resolve to the real items here,
            // whatever the user's scope holds.
            use #private::sea_orm;
            use #private::sea_orm::entity::prelude::{DerivePrimaryKey, EntityTrait, EnumIter, PrimaryKeyTrait};
            use ::core::option::Option::{self, None, Some};
            use ::core::result::Result::{self, Err, Ok};
            use #private::{String, Vec};

            #(#stored_aliases)*
            #(#type_checks)*

            #[derive(Clone, Debug, PartialEq, sea_orm::DeriveEntityModel, #private::serde::Serialize)]
            #[sea_orm(table_name = #table)]
            #[serde(crate = #serde_crate)]
            pub struct Model {
                #[sea_orm(primary_key, auto_increment = false)]
                pub id: #private::Uuid,
                // Indexed with the list order by the runtime (`db::indexes`).
                pub owner_id: Option<#private::Uuid>,
                #(#model_fields,)*
                #template_column
                pub created_at: #private::DateTimeUtc,
                pub updated_at: #private::DateTimeUtc,
            }

            #[derive(Clone, Copy, Debug, sea_orm::EnumIter, sea_orm::DeriveRelation)]
            pub enum Relation {}

            impl sea_orm::ActiveModelBehavior for ActiveModel {}

            #[derive(#private::serde::Deserialize)]
            #[serde(crate = #serde_crate, deny_unknown_fields)]
            pub struct Create {
                #[serde(default)]
                pub owner_id: Option<#private::Uuid>,
                #(#create_fields,)*
            }

            #[derive(#private::serde::Deserialize)]
            #[serde(crate = #serde_crate, deny_unknown_fields)]
            pub struct Patch {
                #(#patch_fields,)*
            }

            static FIELDS: [#private::FieldSpec; #field_count] = [#(#specs),*];

            static SPEC: #private::ResourceSpec = #private::ResourceSpec::new(#name, #path, #table)
                .with_ops(#private::OperationSet::EMPTY #(#ops)*)
                #resource_options
                .with_fields(&FIELDS)
                .with_doc(#doc);

            #[automatically_derived]
            impl #private::Resource for #ident {
                type Entity = Entity;
                type Model = Model;
                type ActiveModel = ActiveModel;
                type Column = Column;
                type Create = Create;
                type Patch = Patch;

                const SPEC: &'static #private::ResourceSpec = &SPEC;
                const ID: Column = Column::Id;
                const CREATED_AT: Column = Column::CreatedAt;
            }

            #[automatically_derived]
            impl #private::ResourceGlue for #ident {
                fn new_row(input: Create, row: #private::NewRow) -> ActiveModel {
                    ActiveModel {
                        id: sea_orm::ActiveValue::Set(row.id),
                        owner_id: sea_orm::ActiveValue::Set(row.owner_id),
                        #(#new_values,)*
                        #template_on_create
                        created_at: sea_orm::ActiveValue::Set(row.now),
                        updated_at: sea_orm::ActiveValue::Set(row.now),
                    }
                }

                fn replace_row(input: Create, id: #private::Uuid, now: #private::DateTimeUtc) -> ActiveModel {
                    ActiveModel {
                        id: sea_orm::ActiveValue::Unchanged(id),
                        #(#replaced,)*
                        updated_at: sea_orm::ActiveValue::Set(now),
                        ..::core::default::Default::default()
                    }
                }

                fn defaults() -> ActiveModel {
                    ActiveModel { #(#defaults,)* ..::core::default::Default::default() }
                }

                fn patch_row(input: Patch, id: #private::Uuid, now: #private::DateTimeUtc) -> ActiveModel {
                    let mut row = ActiveModel {
                        id: sea_orm::ActiveValue::Unchanged(id),
                        updated_at: sea_orm::ActiveValue::Set(now),
                        ..::core::default::Default::default()
                    };
                    #(#patched)*
                    row
                }

                fn id_of(model: &Model) -> #private::Uuid {
                    model.id
                }

                fn owner_of(model: &Model) -> Option<#private::Uuid> {
                    model.owner_id
                }

                fn requested_owner(input: &Create) -> Option<#private::Uuid> {
                    input.owner_id
                }

                fn validate_create(input: &Create, errors: &mut Vec<#private::FieldError>) {
                    #(#create_checks)*
                }

                fn validate_patch(input: &Patch, errors: &mut Vec<#private::FieldError>) {
                    #(#patch_checks)*
                }

                fn validate_fields(&self, errors: &mut Vec<#private::FieldError>) {
                    #(#field_checks)*
                }

                fn into_model(record: #private::Record<Self>) -> Model {
                    let #private::Record { id, owner_id, template_id, created_at, updated_at, data } = record;
                    #template_unused
                    Model { id, owner_id, #(#stored,)* #template_into_model created_at, updated_at }
                }


                fn serialize_visible_fields<M: #private::serde::ser::SerializeMap>(
                    &self,
                    map: &mut M,
                ) -> ::core::result::Result<(), M::Error> {
                    #(#visible)*
                    ::core::result::Result::Ok(())
                }

                fn from_model(model: Model) -> ::core::result::Result<#private::Record<Self>, #private::DecodeError> {
                    ::core::result::Result::Ok(#private::Record {
                        id: model.id,
                        owner_id: model.owner_id,
                        template_id: #template_of_model,
                        created_at: model.created_at,
                        updated_at: model.updated_at,
                        data: #ident { #(#decoded,)* },
                    })
                }
            }

            #[automatically_derived]
            impl #private::ResourceRoutes for #ident {
                #template_routes

                fn custom_endpoints() -> #private::Vec<#private::Endpoint> {
                    use #private::{ViaEndpoints as _, ViaNothing as _};
                    (&&#private::Probe::<Self>::new()).endpoints()
                }
            }

            #template_items
        };
    }
}

/// The pieces `templated` adds; empty for other resources.
struct Templates {
    column: TokenStream,
    on_create: TokenStream,
    of_model: TokenStream,
    into_model: TokenStream,
    spec: TokenStream,
    mount: TokenStream,
    items: TokenStream,
}

fn templates(private: &TokenStream, resource: &Resource) -> Templates {
    if !resource.templated {
        return Templates {
            column: TokenStream::new(),
            on_create: TokenStream::new(),
            of_model: quote!(None),
            into_model: TokenStream::new(),
            spec: TokenStream::new(),
            mount: TokenStream::new(),
            items: TokenStream::new(),
        };
    }
    let ident = &resource.ident;
    let name = format!("{}Template", resource.name);
    let path = format!("{}/templates", resource.path.trim_end_matches('/'));
    let (acl_admins, acl_allow_always) = (&resource.acl_admins, &resource.acl_allow_always);
    Templates {
        column: quote!(pub template_id: Option<#private::Uuid>,),
        on_create: quote!(template_id: sea_orm::ActiveValue::Set(row.template_id),),
        of_model: quote!(model.template_id),
        into_model: quote!(template_id,),
        spec: quote!(.with_templates(&TEMPLATES)),
        mount: quote! {
            fn template_routes() -> ::std::vec::Vec<#private::Route<#private::AppState>> {
                #private::template_routes::<Self>()
            }
        },
        items: quote! {
            static TEMPLATES: #private::ResourceSpec =
                #private::ResourceSpec::templates(#name, #path, &[#(#acl_admins),*], &[#(#acl_allow_always),*]);

            #[automatically_derived]
            impl #private::Templated for #ident {
                const TEMPLATES: &'static #private::ResourceSpec = &TEMPLATES;
            }
        },
    }
}

/// What the type system decides of a field: that each option applies to its
/// type (an error on the option's token otherwise), and that a type which
/// may be null is spelled `Option<...>`, which is how the table learns that
/// the column is nullable.
fn type_checks(private: &TokenStream, field: &Field) -> TokenStream {
    let options = field.option_checks.iter().map(|check| {
        let rule = format_ident!("{}", check.rule);
        let ty = respanned(&field.inner_ty, check.span);
        quote_spanned!(check.span=> const _: () = <#ty as #private::options::#rule>::OK;)
    });
    let nullable = (!field.nullable).then(|| {
        let ty = &field.ty;
        let message = LitStr::new(
            &format!(
                "`{}` may be null: spell its type `Option<...>` in the struct, not through an alias, so that its column is nullable",
                field.name
            ),
            ty.span(),
        );
        quote_spanned!(ty.span()=> const _: () = ::core::assert!(!<#ty as #private::Field>::NULLABLE, #message);)
    });
    quote!(#(#options)* #nullable)
}

/// `tokens` with every span set to `span`, so an error about them points
/// there.
fn respanned(tokens: &impl ToTokens, span: Span) -> TokenStream {
    tokens
        .to_token_stream()
        .into_iter()
        .map(|mut token| {
            if let proc_macro2::TokenTree::Group(group) = &token {
                let mut inner = proc_macro2::Group::new(group.delimiter(), respanned(&group.stream(), span));
                inner.set_span(span);
                token = proc_macro2::TokenTree::Group(inner);
            } else {
                token.set_span(span);
            }
            token
        })
        .collect()
}

/// The field's name, spanned on its type.
fn on_type_span(field: &Field) -> syn::Ident {
    let mut name = field.ident.clone();
    name.set_span(field.ty.span());
    name
}

/// The name of a field's stored type in the expansion.
fn stored_alias(field: &Field) -> syn::Ident {
    format_ident!("__Stored_{}", field.name)
}

/// The stored value of a writable field from the body, or its default when
/// the body left it out.
fn sent_value(private: &TokenStream, field: &Field) -> TokenStream {
    let name = &field.ident;
    match &field.default {
        Some(_) => {
            let (sent, default) = (into_stored(private, field, quote!(value)), default_value(private, field));
            quote!(match input.#name { Some(value) => #sent, None => #default })
        }
        None => into_stored(private, field, quote!(input.#name)),
    }
}

/// `value` converted to the stored form, with errors on the field's type.
fn into_stored(private: &TokenStream, field: &Field, value: TokenStream) -> TokenStream {
    let ty = &field.ty;
    quote_spanned!(ty.span()=> <#ty as #private::Field>::into_stored(#value))
}

/// The stored value of a field's `default` (or `None` for an Option field).
fn default_value(private: &TokenStream, field: &Field) -> TokenStream {
    let ty = &field.ty;
    let inner = &field.inner_ty;
    match (&field.default, field.nullable) {
        (Some(value), true) => {
            quote!(<#ty as #private::Field>::into_stored(Some(::core::convert::Into::<#inner>::into(#value))))
        }
        (Some(value), false) => {
            quote!(<#ty as #private::Field>::into_stored(::core::convert::Into::<#ty>::into(#value)))
        }
        (None, _) => quote!(None),
    }
}

fn field_spec(private: &TokenStream, field: &Field) -> TokenStream {
    let (name, ty, doc) = (&field.name, &field.ty, &field.doc);
    let access = format_ident!(
        "{}",
        match field.access {
            Access::ReadWrite => "ReadWrite",
            Access::ReadOnly => "ReadOnly",
            Access::WriteOnly => "WriteOnly",
            Access::Hidden => "Hidden",
        }
    );
    let rules = field.rules.iter().map(|rule| match rule {
        Rule::Length { min, max } => {
            let (min, max) = (option(min.as_ref()), option(max.as_ref()));
            quote!(#private::Rule::Length { min: #min, max: #max })
        }
        Rule::Range { min, max } => {
            let (min, max) = (option(min.as_ref()), option(max.as_ref()));
            quote!(#private::Rule::Range { min: #min, max: #max })
        }
        Rule::Email => quote!(#private::Rule::Email),
        Rule::Pattern(pattern) => quote!(#private::Rule::Pattern(#pattern)),
    });
    let kind = quote_spanned!(ty.span()=> <#ty as #private::Field>::KIND);
    let nullable = quote_spanned!(ty.span()=> <#ty as #private::Field>::NULLABLE);
    let mut spec = quote!(#private::FieldSpec::new(#name, #kind).with_nullable(#nullable));
    if !matches!(field.access, Access::ReadWrite) {
        spec.extend(quote!(.with_access(#private::Access::#access)));
    }
    for (set, option) in [
        (field.unique, "unique"),
        (field.unique_per_owner, "unique_per_owner"),
        (field.encrypted, "encrypted"),
        (field.index, "index"),
        (field.filter, "filter"),
        (field.sort, "sort"),
        (field.default.is_some(), "default"),
    ] {
        if set {
            let with = format_ident!("with_{option}");
            spec.extend(quote!(.#with()));
        }
    }
    if !field.rules.is_empty() {
        spec.extend(quote!(.with_rules(&[#(#rules),*])));
    }
    if let Some(reference) = &field.reference {
        spec.extend(reference_spec(private, reference));
    }
    if !doc.is_empty() {
        spec.extend(quote!(.with_doc(#doc)));
    }
    spec
}

/// `.with_reference(..)`: the target's spec through a function (types may
/// refer to each other), named on the target's token so that a type that
/// is no resource is reported there.
fn reference_spec(private: &TokenStream, reference: &Reference) -> TokenStream {
    let Reference { target, action, on_delete, expand } = reference;
    let target_spec = quote_spanned!(target.span()=> {
        fn target() -> &'static #private::ResourceSpec {
            <#target as #private::Resource>::SPEC
        }
        target
    });
    let on_delete = match on_delete {
        OnDeleteOption::Restrict => quote!(Restrict),
        OnDeleteOption::Cascade => quote!(Cascade),
        OnDeleteOption::SetNull => quote!(SetNull),
    };
    quote!(.with_reference(#private::Reference {
        target: #target_spec,
        action: #action,
        on_delete: #private::OnDelete::#on_delete,
        expand: #expand,
    }))
}

fn option<T: quote::ToTokens>(value: Option<&T>) -> TokenStream {
    match value {
        Some(value) => quote!(Some(#value)),
        None => quote!(None),
    }
}

/// A path as text for `#[serde(crate = "...")]`.
fn path_text(path: &syn::Path) -> String {
    let segments: Vec<String> = path.segments.iter().map(|segment| segment.ident.to_string()).collect();
    let prefix = if path.leading_colon.is_some() { "::" } else { "" };
    format!("{prefix}{}", segments.join("::"))
}
