use fastsaas::prelude::*;

#[derive(Crud, Serialize, Deserialize)]
#[scope("/items")]
struct Item {
    #[crud(readonly)]
    name: String,
}

fn main() {}
