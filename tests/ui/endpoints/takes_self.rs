use fastsaas::prelude::*;

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/agents")]
struct Agent {
    name: String,
}

#[endpoints]
impl Agent {
    #[endpoint(get, "/{id}/status")]
    async fn status(self) -> String {
        self.name
    }
}

fn main() {}
