use fastsaas::prelude::*;

type Nickname = Option<String>;

#[derive(Crud, Serialize, Deserialize)]
#[scope("/people")]
struct Person {
    nickname: Nickname,
}

fn main() {}
