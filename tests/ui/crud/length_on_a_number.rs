use fastsaas::prelude::*;

#[derive(Crud, Serialize, Deserialize)]
#[scope("/items")]
struct Item {
    #[crud(validate(length(max = 3)))]
    size: i64,
}

fn main() {}
