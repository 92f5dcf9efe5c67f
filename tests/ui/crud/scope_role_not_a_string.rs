use fastsaas::prelude::*;

#[derive(Crud, Serialize, Deserialize)]
#[scope("/items", acl_admins = [superadmin])]
struct Item {
    name: String,
}

fn main() {}
