use fastsaas::prelude::*;

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/runs")]
#[crud(templated, ops(read, list))]
struct Run {
    name: String,
}

fn main() {}
