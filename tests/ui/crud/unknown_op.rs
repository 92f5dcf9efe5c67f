use fastsaas::prelude::*;

#[derive(Crud, Serialize, Deserialize)]
#[scope("/items")]
#[crud(ops(create, raed))]
struct Item {
    name: String,
}

fn main() {}
