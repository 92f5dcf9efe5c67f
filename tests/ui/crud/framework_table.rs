use fastsaas::prelude::*;

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/runs")]
#[crud(table = "fastsaas_runs")]
struct Run {
    name: String,
}

fn main() {}
