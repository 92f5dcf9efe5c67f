use fastsaas::prelude::*;

#[derive(CrudEnum, Serialize, Deserialize)]
enum Status {
    Idle,
    Busy(u32),
}

fn main() {}
