use fastsaas::prelude::*;

/// Not a resource: a plain struct.
struct Project {
    _name: String,
}

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/environments")]
struct Environment {
    #[crud(references = Project)]
    project_id: Uuid,
}

fn main() {}
