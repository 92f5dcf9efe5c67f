use fastsaas::prelude::*;

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/notifications")]
struct Profile {
    bio: String,
}

fn main() {}
