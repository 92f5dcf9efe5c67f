use fastsaas::prelude::*;

#[derive(Crud, Serialize, Deserialize)]
#[scope("/items")]
struct Item {
    #[crud(read_only)]
    status: String,
}

fn main() {}
