//! Expansion snapshots: what `#[derive(Crud)]` and `#[derive(CrudEnum)]`
//! emit for typical inputs, formatted. Review a change with `cargo insta review`.

use syn::parse_quote;

fn assert_expansion(name: &str, output: syn::Result<proc_macro2::TokenStream>) {
    let tokens = output.unwrap_or_else(syn::Error::into_compile_error);
    let formatted = match syn::parse2::<syn::File>(tokens.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(_) => tokens.to_string(),
    };
    insta::with_settings!({ snapshot_path => "../../tests/snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(name, formatted);
    });
}

#[test]
fn minimal_resource() {
    let input = parse_quote! {
        /// Something worth keeping.
        #[scope("/items")]
        pub struct Item {
            pub name: String,
        }
    };
    assert_expansion("minimal_resource", crate::crud::crud(&input));
}

#[test]
fn resource_with_every_field_option() {
    let input = parse_quote! {
        #[scope("/agents", acl_admins = ["superadmin"], acl_allow_always = ["superadmin"])]
        #[crud(ops(create, read, update, list), table = "bots")]
        pub struct Agent {
            /// Its name.
            #[crud(validate(length(min = 1, max = 100)), filter, sort, unique)]
            pub name: String,
            #[crud(validate(range(min = 0, max = 10)), index)]
            pub priority: Option<i32>,
            pub config: serde_json::Value,
            #[crud(read_only, default = "idle")]
            pub status: String,
            #[crud(write_only, validate(pattern = "[a-z0-9]{8,}"))]
            pub webhook_secret: Option<String>,
            #[crud(hidden, default = 0)]
            pub runs: i64,
            pub mode: Mode,
        }
    };
    assert_expansion("resource_with_every_field_option", crate::crud::crud(&input));
}

#[test]
fn templated_resource() {
    let input = parse_quote! {
        #[scope("/agents", acl_admins = ["superadmin"])]
        #[crud(templated)]
        pub struct Agent {
            pub name: String,
        }
    };
    assert_expansion("templated_resource", crate::crud::crud(&input));
}

#[test]
fn resource_with_references() {
    let input = parse_quote! {
        #[scope("/environments")]
        pub struct Environment {
            #[crud(references = Project)]
            pub project_id: Uuid,
            #[crud(references(Environment, action = "update", on_delete = set_null))]
            pub parent_id: Option<Uuid>,
        }
    };
    assert_expansion("resource_with_references", crate::crud::crud(&input));
}

#[test]
fn endpoints_block() {
    let input = parse_quote! {
        impl Agent {
            /// Queue a task for this agent.
            ///
            /// Needs the `command` permission.
            #[endpoint(post, "/{id}/command", action = "command")]
            async fn command(ctx: Ctx, agent: Authorized<Agent>, Json(cmd): Json<Command>) -> ApiResult<Json<TaskRef>> {
                queue(&ctx, &agent, cmd).await.map(Json)
            }

            #[endpoint(get, "/{id}/status")]
            async fn status(agent: Authorized<Agent>) -> Json<AgentStatus> {
                Json(AgentStatus::of(&agent))
            }

            fn helper(&self) {}
        }
    };
    assert_expansion("endpoints_block", crate::endpoints::endpoints(proc_macro2::TokenStream::new(), input));
}

#[test]
fn renamed_facade() {
    let input = parse_quote! {
        #[scope("/notes")]
        #[crud(crate = "my_app::fastsaas")]
        struct Note {
            body: String,
        }
    };
    assert_expansion("renamed_facade", crate::crud::crud(&input));
}

#[test]
fn string_enum() {
    let input = parse_quote! {
        #[serde(rename_all = "snake_case")]
        pub enum Mode {
            Manual,
            FullyAutomatic,
            #[serde(rename = "off")]
            Disabled,
        }
    };
    assert_expansion("string_enum", crate::crud_enum::crud_enum(&input));
}
