use fastsaas::prelude::*;

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/users/extra")]
struct Profile {
    bio: String,
}

fn main() {}
