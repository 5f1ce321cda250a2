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
        .create_session_token(w.org, mine.id, &mine_hash, None, at(60))
        .await
        .unwrap();
    store
        .create_session_token(w.org, other.id, &other_hash, None, at(120))
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
        .create_session_token(stranger.id, mine.id, &hash_api_key("stolen"), None, at(60))
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
        .create_session_token(w.org, SessionId(i64::MAX), &hash_api_key("x"), None, at(60))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)), "{e:?}");
}

/// A token created with an API key stops working when that key is revoked;
/// a token can be revoked itself (only by its organisation, once); expired
/// tokens are deleted, and only they.
pub async fn session_token_revocation(store: Arc<dyn Store>, _clock: Arc<ManualClock>) {
    let w = world(&store, "Acme").await;
    let mine = session(&store, &w).await;
    let key = hash_api_key("cck_key-one");
    let other_key = hash_api_key("cck_key-two");
    let stored = store.add_api_key(w.org, &key, "one", at(0)).await.unwrap();
    store
        .add_api_key(w.org, &other_key, "two", at(0))
        .await
        .unwrap();
    let by_key = hash_api_key("token-by-key-one");
    let by_other = hash_api_key("token-by-key-two");
    let revocable = hash_api_key("token-to-revoke");
    let short = hash_api_key("token-short");
    for (token, key, until) in [
        (&by_key, Some(key.as_str()), 600),
        (&by_other, Some(other_key.as_str()), 600),
        (&revocable, None, 600),
        (&short, None, 30),
    ] {
        store
            .create_session_token(w.org, mine.id, token, key, at(until))
            .await
            .unwrap();
    }
    let opens = |token: String| {
        let store = Arc::clone(&store);
        async move {
            store
                .find_session_by_token(&token, at(1))
                .await
                .unwrap()
                .map(|s| s.id)
        }
    };
    assert_eq!(opens(by_key.clone()).await, Some(mine.id));
    assert!(store.revoke_key(w.org, stored.id, at(1)).await.unwrap());
    assert_eq!(opens(by_key.clone()).await, None, "its key was revoked");
    assert_eq!(
        opens(by_other.clone()).await,
        Some(mine.id),
        "another key's"
    );

    let stranger = store.create_org_if_missing("Other", at(0)).await.unwrap();
    assert!(
        !store
            .revoke_session_token(stranger.id, &revocable, at(1))
            .await
            .unwrap()
    );
    assert_eq!(opens(revocable.clone()).await, Some(mine.id));
    assert!(
        store
            .revoke_session_token(w.org, &revocable, at(1))
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_session_token(w.org, &revocable, at(2))
            .await
            .unwrap(),
        "once"
    );
    assert_eq!(opens(revocable.clone()).await, None, "revoked");
    assert!(
        !store
            .revoke_session_token(w.org, &hash_api_key("nope"), at(1))
            .await
            .unwrap()
    );

    assert_eq!(
        store.delete_expired_session_tokens(at(29)).await.unwrap(),
        0
    );
    assert_eq!(
        store.delete_expired_session_tokens(at(30)).await.unwrap(),
        1
    );
    assert_eq!(
        store.delete_expired_session_tokens(at(30)).await.unwrap(),
        0
    );
    assert_eq!(
        opens(by_other).await,
        Some(mine.id),
        "unexpired tokens stay"
    );
}
