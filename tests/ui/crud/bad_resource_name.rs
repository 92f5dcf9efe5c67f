use fastsaas::prelude::*;

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/agents")]
#[crud(name = "agent.v2")]
struct Agent {
    name: String,
}

fn main() {}
