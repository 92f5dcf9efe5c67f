use fastsaas::prelude::*;

#[derive(Crud, Serialize, Deserialize)]
#[scope("/items/")]
struct Item {
    name: String,
}

fn main() {}
