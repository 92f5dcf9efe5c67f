use fastsaas::prelude::*;

// One mistake in the derive: its error is the only one, although the type
// is registered, extracted and given endpoints below.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/items")]
struct Item {
    #[crud(read_only)]
    status: String,
}

#[endpoints]
impl Item {
    #[endpoint(get, "/{id}/status")]
    async fn status(item: Authorized<Item>) -> String {
        item.status.clone()
    }
}

fn main() {
    let _app = App::new(Default::default()).resource::<Item>();
}
