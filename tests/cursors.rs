//! Keyset pages: `next` on every page but the last, `?after=<next>` for the
//! page after it, in the same order as offset pages, with nulls and ties in
//! the sort key; cursors that were altered or belong to another list are
//! refused; a cursor outlives the row it names; another caller's cursor
//! shows that caller nothing it could not read.

use std::collections::BTreeSet;

use fastsaas::prelude::*;
use fastsaas::serde_json::{Value, json};
use fastsaas::testing::{TestClient, TestUser};

/// A chore: a rank that may be missing and repeats, and a label.
#[derive(Crud, Clone, Debug, Serialize, Deserialize)]
#[scope("/chores")]
struct Chore {
    #[crud(filter, sort)]
    label: String,
    #[crud(sort)]
    rank: Option<i64>,
}

async fn seeded() -> (TestClient, TestUser) {
    let client = TestClient::start(App::new(Default::default()).resource::<Chore>()).await;
    let ann = client.sign_up("ann@example.com").await;
    for n in 0..23_i64 {
        // Ranks 0..4 repeat, every fifth chore has none; two labels.
        let rank = if n % 5 == 4 { Value::Null } else { json!(n % 4) };
        let label = if n % 3 == 0 { "even" } else { "odd" };
        let body = json!({"label": label, "rank": rank});
        client.post("/chores").bearer(&ann.token).json(&body).send().await.assert_status(201);
    }
    (client, ann)
}

async fn page(client: &TestClient, user: &TestUser, query: &str) -> Value {
    let response = client.get(&format!("/chores?{query}")).bearer(&user.token).send().await;
    response.assert_status(200);
    response.json()
}

fn ids(page: &Value) -> Vec<String> {
    page["items"].as_array().into_iter().flatten().filter_map(|item| item["id"].as_str().map(str::to_owned)).collect()
}

/// Every id of the list `query`, walked by `after` from the first page.
async fn walked(client: &TestClient, user: &TestUser, query: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut current = page(client, user, query).await;
    loop {
        seen.extend(ids(&current));
        match current["next"].as_str() {
            Some(next) => current = page(client, user, &format!("{query}&after={next}")).await,
            None => return seen,
        }
    }
}

/// Every id of the list `query`, by offset pages.
async fn paged(client: &TestClient, user: &TestUser, query: &str) -> Vec<String> {
    let mut seen = Vec::new();
    for number in 1.. {
        let current = page(client, user, &format!("{query}&page={number}")).await;
        if ids(&current).is_empty() {
            break;
        }
        seen.extend(ids(&current));
    }
    seen
}

#[tokio::test]
async fn cursors_walk_every_order_like_offsets_do() {
    let (client, ann) = seeded().await;
    for query in ["page_size=4", "page_size=5&sort=rank", "page_size=3&sort=-rank", "page_size=2&sort=-label&label=odd"]
    {
        let by_cursor = walked(&client, &ann, query).await;
        let by_offset = paged(&client, &ann, query).await;
        assert_eq!(by_cursor, by_offset, "{query}");
        let distinct: BTreeSet<&String> = by_cursor.iter().collect();
        assert_eq!(distinct.len(), by_cursor.len(), "{query}: no row twice");
        let expected = if query.contains("label=odd") { 15 } else { 23 };
        assert_eq!(by_cursor.len(), expected, "{query}: every row once");
    }
    // Nulls come last ascending and first descending.
    let ascending = page(&client, &ann, "sort=rank&page_size=100").await;
    let ranks: Vec<&Value> = ascending["items"].as_array().into_iter().flatten().map(|item| &item["rank"]).collect();
    assert!(ranks.iter().rev().take(4).all(|rank| rank.is_null()) && !ranks[0].is_null(), "{ranks:?}");
}

#[tokio::test]
async fn the_last_page_has_no_next() {
    let (client, ann) = seeded().await;
    let full = page(&client, &ann, "page_size=100").await;
    assert_eq!(full["next"], Value::Null);
    let second = page(&client, &ann, "page_size=23").await;
    assert_eq!(second["next"], Value::Null, "exactly one page");
    let first = page(&client, &ann, "page_size=22").await;
    let last = page(&client, &ann, &format!("page_size=22&after={}", first["next"].as_str().unwrap_or_default())).await;
    assert_eq!(ids(&last).len(), 1);
    assert_eq!(last["next"], Value::Null);
    assert_eq!(last["total"], 23, "the total counts the whole list");
}

#[tokio::test]
async fn cursors_of_another_list_or_altered_are_refused() {
    let (client, ann) = seeded().await;
    let first = page(&client, &ann, "page_size=5&sort=rank").await;
    let next = first["next"].as_str().unwrap_or_default().to_owned();
    let (payload, tag) = next.split_once('.').unwrap_or_default();
    let mut flipped = payload.as_bytes().to_vec();
    flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap_or_default();
    for query in [
        format!("page_size=5&sort=-rank&after={next}"),
        format!("page_size=5&after={next}"),
        format!("page_size=5&sort=rank&label=odd&after={next}"),
        format!("page_size=5&sort=rank&after={flipped}.{tag}"),
        format!("page_size=5&sort=rank&after={payload}"),
        "page_size=5&sort=rank&after=garbage".to_owned(),
        // Near the longest query a URI may carry (64 KiB): a huge payload
        // under a real tag, and a real payload under a huge tag.
        format!("page_size=5&sort=rank&after={}.{tag}", "A".repeat(60_000)),
        format!("page_size=5&sort=rank&after={payload}.{}", "A".repeat(60_000)),
        format!("page_size=5&sort=rank&page=2&after={next}"),
    ] {
        let response = client.get(&format!("/chores?{query}")).bearer(&ann.token).send().await;
        response.assert_status(400);
        let problem: Value = response.json();
        assert!(problem["detail"].as_str().unwrap_or_default().contains("after"), "{query}: {problem}");
    }
    // The page size may change between pages: the cursor says where, not how much.
    page(&client, &ann, &format!("page_size=7&sort=rank&after={next}")).await;
}

#[tokio::test]
async fn a_cursor_outlives_its_row_and_shows_another_caller_only_their_own() {
    let (client, ann) = seeded().await;
    let first = page(&client, &ann, "page_size=5").await;
    let next = first["next"].as_str().unwrap_or_default().to_owned();
    let expected = ids(&page(&client, &ann, &format!("page_size=5&after={next}")).await);
    let last_shown = ids(&first).pop().unwrap_or_default();
    client.delete(&format!("/chores/{last_shown}")).bearer(&ann.token).send().await.assert_status(204);
    assert_eq!(ids(&page(&client, &ann, &format!("page_size=5&after={next}")).await), expected);

    let ben = client.sign_up("ben@example.com").await;
    let own = client.post("/chores").bearer(&ben.token).json(&json!({"label": "ben's", "rank": 1})).send().await;
    let own: Value = own.json();
    let seen = page(&client, &ben, &format!("page_size=5&after={next}")).await;
    assert_eq!(ids(&seen), [own["id"].as_str().unwrap_or_default()], "only ben's own chore, created after the cursor");
}

/// A caller who reads through several owners (itself, an organization it
/// belongs to) and objects others shared with it gets one list, merged in
/// order from each part, by offset and by cursor alike, in every order.
#[tokio::test]
async fn lists_merged_from_several_owners_and_shared_objects_walk_alike() {
    let (client, ann) = seeded().await;
    let ben = client.sign_up("ben@example.com").await;
    let org: Value = client.post("/orgs").bearer(&ben.token).json(&json!({"name": "Acme"})).send().await.json();
    let org_id = org["id"].as_str().unwrap_or_default().to_owned();
    let members = format!("/orgs/{org_id}/members");
    let body = json!({"user_id": ann.id, "role": "member"});
    client.post(&members).bearer(&ben.token).json(&body).send().await.assert_status(204);
    let ann = client.sign_in("ann@example.com", fastsaas::testing::TEST_PASSWORD).await;
    for n in 0..9_i64 {
        let owner = if n % 2 == 0 { org_id.clone() } else { ben.id.to_string() };
        let rank = if n % 4 == 3 { Value::Null } else { json!(n % 3) };
        let body = json!({"label": if n % 3 == 0 { "even" } else { "odd" }, "rank": rank, "owner_id": owner});
        let created = client.post("/chores").bearer(&ben.token).json(&body).send().await;
        created.assert_status(201);
        let id = created.json::<Value>()["id"].as_str().unwrap_or_default().to_owned();
        if n % 2 == 1 && n < 7 {
            let share = json!({"principal_id": ann.id, "action": "read", "effect": "allow"});
            client.post(&format!("/chores/{id}/acl")).bearer(&ben.token).json(&share).send().await.assert_status(201);
        }
    }
    // Ann's 23, the organization's 5, and 3 of ben's shared with her.
    for query in ["page_size=4", "page_size=3&sort=rank", "page_size=5&sort=-rank", "page_size=2&sort=label&label=odd"]
    {
        let by_cursor = walked(&client, &ann, query).await;
        let by_offset = paged(&client, &ann, query).await;
        assert_eq!(by_cursor, by_offset, "{query}");
        let total = page(&client, &ann, query).await["total"].as_u64().unwrap_or_default();
        assert_eq!(by_cursor.len() as u64, total, "{query}: every readable row once");
        let distinct: BTreeSet<&String> = by_cursor.iter().collect();
        assert_eq!(distinct.len(), by_cursor.len(), "{query}: no row twice");
    }
    assert_eq!(page(&client, &ann, "page_size=1").await["total"], 31);
    // The merged order is the list's order: by `created_at`, or by rank
    // (nulls last) then id.
    let items = |page: &Value| page["items"].as_array().cloned().unwrap_or_default();
    let by_time = items(&page(&client, &ann, "page_size=100").await);
    let times: Vec<DateTime<Utc>> =
        by_time.iter().filter_map(|item| item["created_at"].as_str()?.parse().ok()).collect();
    assert_eq!(times.len(), 31);
    let mut sorted = times.clone();
    sorted.sort_unstable();
    assert_eq!(times, sorted);
    let by_rank = items(&page(&client, &ann, "page_size=100&sort=rank").await);
    let keys: Vec<(i64, String)> = by_rank
        .iter()
        .map(|item| (item["rank"].as_i64().unwrap_or(i64::MAX), item["id"].as_str().unwrap_or_default().to_owned()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}
