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

/// A database whose keys were made before keys had roles: after the
/// upgrade (the remaining migrations, applied on connect) they are admin.
#[tokio::test]
async fn keys_made_before_roles_become_admin() {
    let path = std::env::temp_dir().join(format!("chatcourse-roles-{}.db", uuid::Uuid::new_v4()));
    let url = format!("sqlite://{}", path.display());
    let mut before = sqlx::migrate!("../../migrations/sqlite");
    before.migrations = before
        .migrations
        .iter()
        .filter(|m| m.version < 20261209000001)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    let options = url
        .parse::<sqlx::sqlite::SqliteConnectOptions>()
        .unwrap()
        .create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    before.run(&pool).await.unwrap();
    let hash = chatcourse_storage::hash_api_key("an-old-key");
    sqlx::query("INSERT INTO organisations (name, created_at) VALUES ('old', 0)")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO api_keys (org_id, label, key_hash, created_at) \
         SELECT id, 'old', ?, 0 FROM organisations WHERE name = 'old'",
    )
    .bind(&hash)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let store = connect(&url).await.unwrap();
    let (org, role) = store.find_key_grant(&hash).await.unwrap().expect("the key");
    assert_eq!(org.name, "old");
    assert_eq!(role, chatcourse_storage::KeyRole::Admin);
    drop(store);
    let _ = std::fs::remove_file(&path);
}
