use fastsaas::prelude::*;

#[derive(Crud, Serialize, Deserialize)]
#[scope("/items")]
struct Item {
    owner_id: Option<Uuid>,
}

fn main() {}
