use fastsaas::prelude::*;

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/projects")]
struct Project {
    name: String,
}

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/environments")]
struct Environment {
    #[crud(references(Project, on_delete = explode))]
    unknown_rule: Uuid,
    #[crud(references("Project"))]
    quoted: Uuid,
    #[crud(references(Project, colour = "red"))]
    unknown_option: Uuid,
}

fn main() {}
