use fastsaas::prelude::*;

#[derive(Crud, Serialize, Deserialize)]
#[scope("/items")]
struct Item {
    #[crud(validate(range(min = 10, max = 1)))]
    rank: i32,
}

fn main() {}
