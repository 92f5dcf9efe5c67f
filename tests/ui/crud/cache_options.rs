use fastsaas::prelude::*;

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/never")]
#[crud(cache(ttl_secs = 0))]
struct Never {
    name: String,
}

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/forever")]
#[crud(cache(ttl_secs = 90000))]
struct Forever {
    name: String,
}

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/misspelled")]
#[crud(cache(ttl = 60))]
struct Misspelled {
    name: String,
}

fn main() {}
