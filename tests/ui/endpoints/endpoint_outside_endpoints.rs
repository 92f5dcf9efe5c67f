use fastsaas::prelude::*;

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/agents")]
struct Agent {
    name: String,
}

impl Agent {
    #[endpoint(get, "/{id}/status")]
    async fn status(agent: Authorized<Agent>) -> String {
        agent.data.name.clone()
    }
}

fn main() {}
