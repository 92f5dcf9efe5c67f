use fastsaas::prelude::*;

#[derive(Crud, Serialize, Deserialize)]
#[scope("/items")]
struct Item {
    #[crud(read_only, write_only, default = "x")]
    name: String,
}

fn main() {}
