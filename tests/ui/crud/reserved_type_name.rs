use fastsaas::prelude::*;

#[derive(Crud, Serialize, Deserialize)]
#[scope("/models")]
struct Model {
    name: String,
}

fn main() {}
