use fastsaas::prelude::*;

#[derive(Crud, Serialize, Deserialize)]
#[scope("/items")]
struct Item {
    #[crud(validate(pattern = "[a-z"))]
    name: String,
}

fn main() {}
