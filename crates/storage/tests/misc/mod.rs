//! Tests outside the contract: URLs and backend-specific set-up.

use chatcourse_storage::{Backend, StoreError, backend_of, connect};

#[test]
fn backend_is_chosen_by_url() {
    assert_eq!(
        backend_of("sqlite://data/chat.db").unwrap(),
        Backend::Sqlite
    );
    assert_eq!(backend_of("sqlite::memory:").unwrap(), Backend::Sqlite);
    assert_eq!(backend_of("postgres://u@h/db").unwrap(), Backend::Postgres);
    assert_eq!(
        backend_of("postgresql://u@h/db").unwrap(),
        Backend::Postgres
    );
    assert!(matches!(
        backend_of("mysql://u@h/db"),
        Err(StoreError::BadUrl(_))
    ));
    assert!(matches!(backend_of("chat.db"), Err(StoreError::BadUrl(_))));
}

#[tokio::test]
async fn bad_url_is_a_clear_error() {
    let err = connect("mysql://localhost/x")
        .await
        .err()
        .expect("must fail");
    assert!(
        err.to_string().contains("unsupported database URL"),
        "{err}"
    );
}

#[tokio::test]
async fn memory_database_works() {
    let store = connect("sqlite::memory:").await.unwrap();
    let org = store
        .create_org_if_missing("acme", chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(store.list_keys(org.id).await.unwrap(), vec![]);
    assert_eq!(store.backend(), Backend::Sqlite);
}
