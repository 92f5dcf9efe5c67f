use fastsaas::prelude::*;

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/runs")]
struct Run {
    template_id: Option<Uuid>,
}

fn main() {}
