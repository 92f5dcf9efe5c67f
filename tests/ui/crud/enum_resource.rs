use fastsaas::prelude::*;

#[derive(Crud, Serialize, Deserialize)]
#[scope("/items")]
enum Item {
    One,
}

fn main() {}
