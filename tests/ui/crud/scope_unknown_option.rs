use fastsaas::prelude::*;

#[derive(Crud, Serialize, Deserialize)]
#[scope("/items", acl_admin = ["superadmin"])]
struct Item {
    name: String,
}

fn main() {}
