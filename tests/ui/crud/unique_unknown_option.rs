use fastsaas::prelude::*;

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/labels")]
struct Label {
    #[crud(unique(per_tenant))]
    name: String,
}

fn main() {}
