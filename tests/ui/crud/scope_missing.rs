use fastsaas::prelude::*;

#[derive(Crud, Serialize, Deserialize)]
struct Item {
    name: String,
}

fn main() {}
