use fastsaas::prelude::*;

#[derive(Crud, Serialize, Deserialize)]
#[scope("/items")]
#[crud(tabel = "things")]
struct Item {
    name: String,
}

fn main() {}
