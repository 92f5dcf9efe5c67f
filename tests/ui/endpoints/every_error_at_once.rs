use fastsaas::prelude::*;

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/agents")]
struct Agent {
    name: String,
}

#[endpoints]
impl Agent {
    #[endpoint(get, "/{id}")]
    async fn read(agent: Authorized<Agent>) -> String {
        agent.data.name.clone()
    }

    #[endpoint(post, "/{agent}/run", action = "Run!")]
    async fn run(agent: Authorized<Agent>) -> String {
        agent.data.name.clone()
    }

    #[endpoint(get, "/{id}/acl/mine")]
    async fn acl(agent: Authorized<Agent>) -> String {
        agent.data.name.clone()
    }
}

fn main() {}
