use fastsaas::prelude::*;

#[derive(Crud, Serialize, Deserialize)]
#[scope("/items")]
#[scope("/things")]
struct Item {
    name: String,
}

fn main() {}
