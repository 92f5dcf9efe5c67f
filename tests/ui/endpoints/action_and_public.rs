use fastsaas::prelude::*;

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/agents")]
struct Agent {
    name: String,
}

#[endpoints]
impl Agent {
    #[endpoint(get, "/{id}/status", action = "read", public)]
    async fn status(agent: Authorized<Agent>) -> String {
        agent.name.clone()
    }
}

fn main() {}
