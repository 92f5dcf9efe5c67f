use fastsaas::prelude::*;

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/projects")]
struct Project {
    name: String,
}

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/environments")]
struct Environment {
    #[crud(references(Project, expand))]
    project_id: Uuid,
    #[crud(references(Project, expand))]
    project: Option<Uuid>,
}

fn main() {}
