use fastsaas::prelude::*;

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/agents")]
struct Agent {
    name: String,
}

#[endpoints]
impl Agent {
    #[endpoint(get, "/{id}/files/{name}")]
    async fn file(agent: Authorized<Agent>) -> String {
        agent.data.name.clone()
    }
}

fn main() {}
