use fastsaas::prelude::*;

#[derive(Crud, Serialize, Deserialize)]
#[scope("/items")]
struct Item {
    updated_at: DateTime<Utc>,
}

fn main() {}
