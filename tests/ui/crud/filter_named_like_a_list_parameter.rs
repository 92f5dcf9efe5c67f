use fastsaas::prelude::*;

#[derive(Crud, Serialize, Deserialize)]
#[scope("/items")]
struct Item {
    #[crud(filter)]
    page: i64,
    #[crud(filter, sort)]
    after: String,
    #[crud(sort)]
    total: i64,
}

fn main() {}
