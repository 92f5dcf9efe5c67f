use fastsaas::prelude::*;

#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/agents")]
struct Agent {
    name: String,
}

#[endpoints]
impl Agent {
    #[endpoint(get, "/{id}/status")]
    async fn status(agent: Authorized<Agent>, count: u32) -> String {
        format!("{} {count}", agent.data.name)
    }
}

fn main() {}
