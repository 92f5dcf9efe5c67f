use fastsaas::prelude::*;

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/runs")]
#[crud(templated)]
struct Run {
    #[crud(read_only, default = "queued")]
    status: String,
    #[crud(write_only)]
    token: Option<String>,
}

fn main() {}
