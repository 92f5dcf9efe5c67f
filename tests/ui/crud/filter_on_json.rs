use fastsaas::prelude::*;

#[derive(Crud, Serialize, Deserialize)]
#[scope("/items")]
struct Item {
    #[crud(filter)]
    config: serde_json::Value,
}

fn main() {}
