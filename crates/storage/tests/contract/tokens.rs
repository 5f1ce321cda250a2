//! Learner tokens: each opens one session until it expires.

use std::sync::Arc;

use chatcourse_storage::*;

use super::*;

pub async fn session_tokens(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    let w = world(&store, "Acme").await;
    let mine = session(&store, &w).await;
    let other_customer = store
        .register_customer(w.org, &new_customer("John Kamau"))
        .await
        .unwrap();
    let other = store
        .create_session(w.org, &new_session(&w, &other_customer, &["Hi"]))
        .await
        .unwrap()
        .session;
    let mine_hash = hash_api_key("token-of-mine");
    let other_hash = hash_api_key("token-of-other");
    store
        .create_session_token(w.org, mine.id, &mine_hash, at(60))
        .await
        .unwrap();
    store
        .create_session_token(w.org, other.id, &other_hash, at(120))
        .await
        .unwrap();

    // Valid: each token opens its own session, and only that one.
    let found = store
        .find_session_by_token(&mine_hash, at(0))
        .await
        .unwrap()
        .expect("valid token");
    assert_eq!(found.id, mine.id);
    assert_eq!(found.uuid, mine.uuid);
    assert_eq!(found.org, w.org);
    assert_eq!(found.customer_uuid, w.customer.uuid);
    let found = store
        .find_session_by_token(&other_hash, at(0))
        .await
        .unwrap()
        .expect("valid token");
    assert_eq!(found.id, other.id);

    // Expired: the expiry is exclusive.
    let just_before = at(60) - chrono::Duration::microseconds(1);
    assert!(
        store
            .find_session_by_token(&mine_hash, just_before)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .find_session_by_token(&mine_hash, at(60))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_session_by_token(&other_hash, at(60))
            .await
            .unwrap()
            .is_some()
    );

    // Unknown: neither another hash nor the secret itself.
    for unknown in [hash_api_key("guess"), "token-of-mine".to_owned()] {
        assert!(
            store
                .find_session_by_token(&unknown, at(0))
                .await
                .unwrap()
                .is_none()
        );
    }

    // Another organisation's session cannot get a token.
    let stranger = store.create_org_if_missing("Stranger", t0()).await.unwrap();
    let e = store
        .create_session_token(stranger.id, mine.id, &hash_api_key("stolen"), at(60))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)), "{e:?}");
    assert!(
        store
            .find_session_by_token(&hash_api_key("stolen"), at(0))
            .await
            .unwrap()
            .is_none()
    );
    // Nor does a session that does not exist.
    let e = store
        .create_session_token(w.org, SessionId(i64::MAX), &hash_api_key("x"), at(60))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)), "{e:?}");
}
