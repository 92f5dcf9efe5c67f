use fastsaas::prelude::*;

#[derive(Crud, Serialize, Deserialize)]
#[scope("/items")]
#[crud(ops(create, fetch))]
struct Item {
    id: String,
    #[crud(read_only)]
    status: String,
    #[crud(validate(email))]
    count: i64,
}

fn main() {}
