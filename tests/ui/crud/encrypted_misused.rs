use fastsaas::prelude::*;

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/hooks")]
struct Hook {
    // A value clients read back is no secret.
    #[crud(encrypted)]
    url: String,
    // Only text is encrypted.
    #[crud(write_only, encrypted)]
    pin: Option<i64>,
    // Ciphertexts of equal values differ: nothing to filter or compare.
    #[crud(write_only, encrypted, filter, unique)]
    secret: Option<String>,
}

fn main() {}
