use fastsaas::prelude::*;

#[derive(Crud, Serialize, Deserialize)]
#[scope("/items")]
#[crud(table = "things", ops())]
struct Item {
    name: String,
}

fn main() {}
