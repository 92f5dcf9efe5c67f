use fastsaas::prelude::*;

#[derive(Crud, Serialize, Deserialize)]
#[scope("/items")]
struct Item {
    created_at: DateTime<Utc>,
}

fn main() {}
