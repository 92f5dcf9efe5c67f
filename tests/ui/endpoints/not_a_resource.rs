use fastsaas::prelude::*;

struct Plain;

#[endpoints]
impl Plain {
    #[endpoint(get, "/hello")]
    async fn hello() -> &'static str {
        "hello"
    }
}

fn main() {}
