//! Organisations, keys, programmes, modules, customers, enrolment, migrations.

use std::sync::Arc;

use chatcourse_storage::*;
use uuid::Uuid;

use super::*;

pub async fn organisations_and_keys(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    let acme = store.create_org_if_missing("acme", t0()).await.unwrap();
    let again = store.create_org_if_missing("acme", at(60)).await.unwrap();
    assert_eq!(
        acme, again,
        "create_org_if_missing returns the existing organisation"
    );
    let other = store.create_org_if_missing("other", t0()).await.unwrap();
    assert_ne!(acme.id, other.id);
    assert_eq!(store.find_org("acme").await.unwrap(), Some(acme.clone()));
    assert_eq!(store.find_org("other").await.unwrap(), Some(other.clone()));
    assert_eq!(store.find_org("acme2").await.unwrap(), None);
    assert_eq!(
        store.find_org("ACME").await.unwrap(),
        None,
        "names are exact"
    );
    assert_eq!(store.find_org("nobody").await.unwrap(), None);
    assert_eq!(
        store.find_org("nobody").await.unwrap(),
        None,
        "find_org never creates"
    );

    let hash = hash_api_key("secret-1");
    assert_eq!(hash.len(), 64);
    assert_ne!(hash, hash_api_key("secret-2"));
    let key = store
        .add_api_key(acme.id, &hash, "gateway", t0())
        .await
        .unwrap();
    assert_eq!(
        (key.org, key.label.as_str(), key.revoked_at),
        (acme.id, "gateway", None)
    );
    let key2 = store
        .add_api_key(acme.id, &hash_api_key("secret-2"), "admin", t0())
        .await
        .unwrap();
    assert!(
        store
            .add_api_key(other.id, &hash, "dup", t0())
            .await
            .is_err(),
        "a key hash belongs to one organisation"
    );

    assert_eq!(
        store.find_org_by_key_hash(&hash).await.unwrap(),
        Some(acme.clone())
    );
    assert_eq!(
        store
            .find_org_by_key_hash(&hash_api_key("nope"))
            .await
            .unwrap(),
        None
    );
    let keys = store.list_keys(acme.id).await.unwrap();
    assert_eq!(
        keys.iter().map(|k| k.id).collect::<Vec<_>>(),
        vec![key.id, key2.id]
    );
    assert!(store.list_keys(other.id).await.unwrap().is_empty());

    assert!(
        !store.revoke_key(other.id, key.id, at(1)).await.unwrap(),
        "not other's key"
    );
    assert!(store.revoke_key(acme.id, key.id, at(1)).await.unwrap());
    assert!(
        !store.revoke_key(acme.id, key.id, at(2)).await.unwrap(),
        "already revoked"
    );
    assert_eq!(store.find_org_by_key_hash(&hash).await.unwrap(), None);
    assert!(
        store
            .find_org_by_key_hash(&key2.key_hash)
            .await
            .unwrap()
            .is_some()
    );
    let keys = store.list_keys(acme.id).await.unwrap();
    assert_eq!(keys[0].revoked_at, Some(at(1)));
}

pub async fn programmes_modules_customers(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    let org = store.create_org_if_missing("acme", t0()).await.unwrap().id;
    let other = store.create_org_if_missing("other", t0()).await.unwrap().id;

    let p = store.ensure_programme(org, 49, t0()).await.unwrap();
    assert_eq!((p.identifier, p.name.as_str()), (49, "Programme 49"));
    assert_eq!(store.ensure_programme(org, 49, at(5)).await.unwrap(), p);
    let q = store.ensure_programme(other, 49, t0()).await.unwrap();
    assert_ne!(p.id, q.id, "programme identifiers are per organisation");
    assert!(store.rename_programme(org, 49, "Test Prog").await.unwrap());
    assert!(!store.rename_programme(org, 50, "Nope").await.unwrap());
    assert_eq!(
        store.get_programme(org, 49).await.unwrap().unwrap().name,
        "Test Prog"
    );
    assert_eq!(
        store.get_programme(other, 49).await.unwrap().unwrap().name,
        "Programme 49"
    );
    assert_eq!(store.get_programme(org, 50).await.unwrap(), None);

    let v1 = store
        .register_module_version(&new_module("credit", "h1"))
        .await
        .unwrap();
    let mut changed = new_module("credit", "h1");
    changed.name = "Renamed".to_owned();
    assert_eq!(
        store.register_module_version(&changed).await.unwrap(),
        v1,
        "registering is idempotent on (module id, content hash)"
    );
    assert_eq!(v1.languages, vec!["en", "sw"]);
    assert_eq!((v1.pre_quiz_total, v1.post_quiz_total), (2, 4));
    let mut next = new_module("credit", "h2");
    next.name = "Credit v2".to_owned();
    let v2 = store.register_module_version(&next).await.unwrap();
    assert_ne!(v1.id, v2.id);
    let savings = store
        .register_module_version(&new_module("savings", "s1"))
        .await
        .unwrap();
    assert_eq!(
        store.find_module(v1.module_uuid).await.unwrap(),
        Some(v2.clone())
    );
    assert_eq!(
        store.get_module_version(v1.id).await.unwrap(),
        Some(v1.clone())
    );
    assert_eq!(store.find_module(Uuid::new_v4()).await.unwrap(), None);
    let list = store.list_modules().await.unwrap();
    assert_eq!(
        list,
        vec![v2, savings],
        "latest version of each module, by name"
    );

    let mut new = new_customer("Jane Wanjiru");
    new.email = Some("jane@example.com".to_owned());
    new.date_of_birth = chrono::NaiveDate::from_ymd_opt(1990, 2, 28);
    let c = store.register_customer(org, &new).await.unwrap();
    assert_eq!((c.org, c.full_name.as_str()), (org, "Jane Wanjiru"));
    assert_eq!(c.date_of_birth, new.date_of_birth);
    assert_eq!(c.email.as_deref(), Some("jane@example.com"));
    assert_eq!(
        store.get_customer(org, c.uuid).await.unwrap(),
        Some(c.clone())
    );
    assert_eq!(store.get_customer(other, c.uuid).await.unwrap(), None);
    let d = store
        .register_customer(org, &new_customer("John"))
        .await
        .unwrap();
    assert!(d.id > c.id && d.uuid != c.uuid);
}

pub async fn enrolment_is_atomic_and_single(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    let w = world(&store, "acme").await;
    let created = store
        .create_session(
            w.org,
            &new_session(&w, &w.customer, &["Welcome!", "Question 1?"]),
        )
        .await
        .unwrap();
    assert!(!created.existing);
    let s = &created.session;
    assert_eq!(
        (s.status, s.turns, s.state.as_str()),
        (SessionStatus::Pending, 0, "0")
    );
    assert_eq!(
        (s.customer_uuid, s.module_uuid),
        (w.customer.uuid, w.module.module_uuid)
    );
    let texts: Vec<_> = created.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["Welcome!", "Question 1?"]);
    assert!(
        created
            .messages
            .iter()
            .all(|m| m.direction == Direction::Sent && m.turn == 0)
    );
    assert_eq!(all_messages(&store, w.org, s.id).await, created.messages);
    assert_eq!(
        store.get_session(w.org, s.uuid).await.unwrap().as_ref(),
        Some(s)
    );

    // Enrolling again while live returns the existing session, stores nothing.
    let again = store
        .create_session(w.org, &new_session(&w, &w.customer, &["Another welcome"]))
        .await
        .unwrap();
    assert!(again.existing);
    assert_eq!(again.session, *s);
    assert_eq!(again.messages, created.messages);
    assert_eq!(all_messages(&store, w.org, s.id).await.len(), 2);

    // Also with a newer version of the same module.
    let v2 = store
        .register_module_version(&new_module("credit-scores", "h2"))
        .await
        .unwrap();
    let mut newer = new_session(&w, &w.customer, &["v2"]);
    newer.module_version = v2.id;
    assert!(store.create_session(w.org, &newer).await.unwrap().existing);

    // Once the session is over, enrolling starts a new one.
    let done = |_: &Session, _: DateTime<Utc>| {
        Ok(TurnPlan {
            state: "done".to_owned(),
            state_format: 1,
            status: SessionStatus::Completed,
            replies: vec!["Bye".to_owned()],
            answers: vec![],
            progress: QuizProgress::default(),
            wake_at: None,
            last_activity: Some(at(10)),
            position: None,
        })
    };
    store
        .apply_turn(s.id, Inbound::message("STOP", None), &mut { done })
        .await
        .unwrap();
    let fresh = store.create_session(w.org, &newer).await.unwrap();
    assert!(!fresh.existing);
    assert_ne!(fresh.session.id, s.id);
    assert_eq!(fresh.session.module_version, v2.id);

    // Other organisations' customers and programmes are not found.
    let other = store.create_org_if_missing("other", t0()).await.unwrap().id;
    let err = store.create_session(other, &newer).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
}

pub async fn concurrent_enrolment_creates_one_session(
    store: Arc<dyn Store>,
    _clock: Arc<ManualClock>,
) {
    let w = Arc::new(world(&store, "acme").await);
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let (store, w) = (store.clone(), w.clone());
            tokio::spawn(async move {
                let text = format!("welcome {i}");
                store
                    .create_session(w.org, &new_session(&w, &w.customer, &[&text]))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    assert_eq!(results.iter().filter(|r| !r.existing).count(), 1);
    let id = results[0].session.id;
    assert!(results.iter().all(|r| r.session.id == id));
    let created = results.iter().find(|r| !r.existing).unwrap();
    assert!(results.iter().all(|r| r.messages == created.messages));
    assert_eq!(all_messages(&store, w.org, id).await, created.messages);
    assert_eq!(
        store
            .customer_sessions(w.org, w.customer.id)
            .await
            .unwrap()
            .len(),
        1
    );
}

pub async fn migrate_is_idempotent(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    // connect already migrated.
    assert_eq!(store.migrate().await.unwrap(), vec![]);
    assert_eq!(store.migrate().await.unwrap(), vec![]);
}

/// Modules an organisation owns are listed for it alone, and their
/// versions say who owns them; shared modules are listed for nobody.
pub async fn organisation_owned_modules(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    let a = store
        .create_org_if_missing("owner-a", t0())
        .await
        .unwrap()
        .id;
    let b = store
        .create_org_if_missing("owner-b", t0())
        .await
        .unwrap()
        .id;
    let shared = store
        .register_module_version(&new_module("budget", "b1"))
        .await
        .unwrap();
    assert_eq!(shared.org, None);
    let owned = |org: OrgId, id: &str, hash: &str| {
        let mut m = new_module(&format!("org/{org}/{id}"), hash);
        m.org = Some(org);
        m
    };
    let a1 = store
        .register_module_version(&owned(a, "budget", "b1"))
        .await
        .unwrap();
    assert_eq!(a1.org, Some(a));
    assert_ne!(a1.id, shared.id, "the same text owned is another version");
    let a2 = store
        .register_module_version(&owned(a, "budget", "b2"))
        .await
        .unwrap();
    let a_loans = store
        .register_module_version(&owned(a, "loans", "l1"))
        .await
        .unwrap();
    let b1 = store
        .register_module_version(&owned(b, "budget", "b1"))
        .await
        .unwrap();
    assert_eq!(
        store
            .register_module_version(&owned(a, "budget", "b1"))
            .await
            .unwrap(),
        a1,
        "idempotent per owner"
    );
    assert_eq!(
        store.list_org_modules(a).await.unwrap(),
        vec![a2.clone(), a_loans]
    );
    assert_eq!(store.list_org_modules(b).await.unwrap(), vec![b1.clone()]);
    let nobody = store
        .create_org_if_missing("owner-c", t0())
        .await
        .unwrap()
        .id;
    assert!(store.list_org_modules(nobody).await.unwrap().is_empty());
    assert_eq!(
        store.find_module(a1.module_uuid).await.unwrap(),
        Some(a2.clone())
    );
    assert_eq!(
        store.find_org_module(a, a1.module_uuid).await.unwrap(),
        Some(a2)
    );
    assert_eq!(
        store.find_org_module(b, a1.module_uuid).await.unwrap(),
        None
    );
    assert_eq!(
        store.find_org_module(a, shared.module_uuid).await.unwrap(),
        None
    );
    assert_eq!(store.get_module_version(b1.id).await.unwrap(), Some(b1));
}

/// Keys carry a role: `add_api_key` makes admin keys (as every key was
/// before roles), the role comes back with the organisation when a key is
/// looked up, and `list_keys` shows it.
pub async fn key_roles(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    let org = store.create_org_if_missing("roles", t0()).await.unwrap();
    let admin = store
        .add_api_key(org.id, &hash_api_key("k-admin"), "old", t0())
        .await
        .unwrap();
    assert_eq!(admin.role, KeyRole::Admin);
    for role in KeyRole::ALL {
        let secret = format!("k-{}", role.as_str());
        let hash = hash_api_key(&secret);
        if role != KeyRole::Admin {
            let key = store
                .add_api_key_with_role(org.id, &hash, role.as_str(), role, t0())
                .await
                .unwrap();
            assert_eq!(key.role, role);
        }
        assert_eq!(
            store.find_key_grant(&hash).await.unwrap(),
            Some((org.clone(), role))
        );
    }
    let listed: Vec<(String, KeyRole)> = store
        .list_keys(org.id)
        .await
        .unwrap()
        .into_iter()
        .map(|k| (k.label, k.role))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("old".to_owned(), KeyRole::Admin),
            ("analyst".to_owned(), KeyRole::Analyst),
            ("author".to_owned(), KeyRole::Author),
        ]
    );
    let analyst = &store.list_keys(org.id).await.unwrap()[1];
    assert!(store.revoke_key(org.id, analyst.id, at(1)).await.unwrap());
    assert_eq!(
        store
            .find_key_grant(&hash_api_key("k-analyst"))
            .await
            .unwrap(),
        None,
        "a revoked key grants nothing"
    );
}
