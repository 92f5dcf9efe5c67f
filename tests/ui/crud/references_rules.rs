use fastsaas::prelude::*;

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/projects")]
struct Project {
    name: String,
}

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/environments")]
struct Environment {
    #[crud(references(Project, on_delete = set_null))]
    required: Uuid,
    #[crud(references(Project, action = "Attach It"))]
    bad_action: Uuid,
}

fn main() {}
