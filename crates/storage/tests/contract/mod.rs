//! The contract every [`Store`] implementation must meet, written once.

use std::sync::Arc;

use chatcourse_storage::*;
use chrono::{DateTime, Duration, TimeZone, Utc};
use uuid::Uuid;

mod basics;
mod delivery;
mod reads;
mod report;
mod tokens;
mod turns;
mod wakeups;

pub use basics::*;
pub use delivery::*;
pub use reads::*;
pub use report::*;
pub use tokens::*;
pub use turns::*;
pub use wakeups::*;

/// A fixed, microsecond-aligned clock for the tests.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 15, 16, 52, 0).unwrap()
}

pub fn at(seconds: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(seconds)
}

/// One organisation with a programme, a module and a customer.
pub struct World {
    pub org: OrgId,
    pub programme: Programme,
    pub module: ModuleVersion,
    pub customer: Customer,
}

pub fn new_module(module_id: &str, hash: &str) -> NewModuleVersion {
    NewModuleVersion {
        module_id: module_id.to_owned(),
        module_uuid: Uuid::new_v5(&Uuid::NAMESPACE_URL, module_id.as_bytes()),
        name: format!("Module {module_id}"),
        goal: "Understand credit scores".to_owned(),
        content_hash: hash.to_owned(),
        source: format!("id: {module_id}\n"),
        languages: vec!["en".to_owned(), "sw".to_owned()],
        pre_quiz_total: 2,
        post_quiz_total: 4,
        registered_at: t0(),
        org: None,
    }
}

pub fn new_customer(name: &str) -> NewCustomer {
    NewCustomer {
        full_name: name.to_owned(),
        national_id: "12345678".to_owned(),
        phone: "254712345678".to_owned(),
        phone_e164: None,
        location: "Nairobi".to_owned(),
        gender: "Female".to_owned(),
        email: None,
        date_of_birth: None,
        registered_at: t0(),
    }
}

pub async fn world(store: &Arc<dyn Store>, org_name: &str) -> World {
    let org = store
        .create_org_if_missing(org_name, t0())
        .await
        .unwrap()
        .id;
    let programme = store.ensure_programme(org, 49, t0()).await.unwrap();
    let module = store
        .register_module_version(&new_module("credit-scores", "h1"))
        .await
        .unwrap();
    let customer = store
        .register_customer(org, &new_customer("Jane Wanjiru"))
        .await
        .unwrap();
    World {
        org,
        programme,
        module,
        customer,
    }
}

pub fn new_session(w: &World, customer: &Customer, messages: &[&str]) -> NewSession {
    NewSession {
        customer: customer.id,
        programme: w.programme.id,
        module_version: w.module.id,
        status: SessionStatus::Pending,
        state: "0".to_owned(),
        state_format: 1,
        messages: messages.iter().map(|m| (*m).to_owned()).collect(),
        wake_at: None,
        at: t0(),
        position: None,
    }
}

/// A session for the world's customer, with one enrolment message.
pub async fn session(store: &Arc<dyn Store>, w: &World) -> Session {
    store
        .create_session(w.org, &new_session(w, &w.customer, &["Welcome!"]))
        .await
        .unwrap()
        .session
}

/// A counter engine: the state is a number; each turn adds one and replies
/// with the new value. Serial application of n turns gives state n.
pub fn counter(session: &Session, _at: DateTime<Utc>) -> Result<TurnPlan, TurnRejected> {
    let n: u64 = session
        .state
        .parse()
        .map_err(|_| TurnRejected::new("bad state"))?;
    Ok(TurnPlan {
        state: (n + 1).to_string(),
        state_format: 1,
        status: SessionStatus::InProgress,
        replies: vec![format!("reply {}", n + 1)],
        answers: vec![],
        progress: QuizProgress::default(),
        wake_at: None,
        last_activity: None,
        position: None,
    })
}

/// All messages of a session, paging through them.
pub async fn all_messages(store: &Arc<dyn Store>, org: OrgId, session: SessionId) -> Vec<Message> {
    let mut out: Vec<Message> = Vec::new();
    loop {
        let page = store
            .messages(org, session, out.last().map(|m| m.id), 500)
            .await
            .unwrap();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

/// Reads `events` until every id of `expected` was announced, then 500 ms
/// more, and checks each was announced exactly once, for its own session,
/// with nothing else (no other id, no `Lagged`).
pub async fn expect_announced_once(
    events: &mut futures::stream::BoxStream<'static, MessageEvent>,
    expected: &[Message],
) {
    use futures::StreamExt;
    use std::collections::BTreeMap;
    let want: BTreeMap<MessageId, SessionId> = expected.iter().map(|m| (m.id, m.session)).collect();
    let mut seen: BTreeMap<MessageId, usize> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let complete = want.keys().all(|id| seen.contains_key(id));
        let until = if complete {
            tokio::time::Instant::now() + std::time::Duration::from_millis(500)
        } else {
            deadline
        };
        let event = match tokio::time::timeout_at(until, events.next()).await {
            Ok(event) => event.expect("stream open"),
            Err(_) if complete => break,
            Err(_) => panic!("announced {} of {} ids within 20 s", seen.len(), want.len()),
        };
        let MessageEvent::Committed { session, ids, .. } = event else {
            panic!("unexpected {event:?}");
        };
        for id in ids {
            assert_eq!(
                want.get(&id),
                Some(&session),
                "announced {id:?} of {session:?}"
            );
            *seen.entry(id).or_default() += 1;
        }
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "announced more than once: {twice:?}");
}
