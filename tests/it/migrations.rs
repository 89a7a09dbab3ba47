//! Two processes migrating one database at once both succeed.

use nasvyazi_shared::db;
use nasvyazi_tests::{create_database, drop_database};
use sqlx::postgres::PgPoolOptions;

#[tokio::test]
async fn two_processes_migrating_at_once_both_succeed() {
    let (url, name) = create_database().await;
    // Separate pools: separate sessions, as two processes would have.
    let a = PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .unwrap();
    let b = PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .unwrap();
    let (ra, rb) = tokio::join!(db::migrate(&a), db::migrate(&b));
    ra.expect("first migrator");
    rb.expect("second migrator");
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&a)
        .await
        .unwrap();
    assert_eq!(applied as usize, db::MIGRATOR.iter().count());
    a.close().await;
    b.close().await;
    drop_database(&name).await;
}
