use fastsaas::prelude::*;

#[derive(CrudEnum, Serialize, Deserialize)]
struct Status {
    busy: bool,
}

fn main() {}
