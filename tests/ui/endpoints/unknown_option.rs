use fastsaas::prelude::*;

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/agents")]
struct Agent {
    name: String,
}

#[endpoints]
impl Agent {
    #[endpoint(get, "/about", anyone)]
    async fn about() -> &'static str {
        "agents"
    }
}

fn main() {}
