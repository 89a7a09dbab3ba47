//! Outbox -> JetStream -> consumer: exactly once, across relay crashes, with
//! duplicates stored once and poison messages dead-lettered with a reason.

use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use futures::StreamExt;
use nasvyazi_shared::consumer::{
    ConsumerRunner, ConsumerSpec, DLQ_REASON, HandleError, Handler, Inbox,
};
use nasvyazi_shared::events::{Envelope, Event};
use nasvyazi_shared::outbox::{self, Outbox, Relay};
use nasvyazi_tests::{eventually, spawn_app};
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Records every call in a table of its own, so "exactly once" is countable.
struct Recorder;

#[async_trait::async_trait]
impl Handler for Recorder {
    async fn handle(&self, tx: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        sqlx::query("INSERT INTO test_seen (event_id) VALUES ($1)")
            .bind(event.id)
            .execute(&mut *tx)
            .await?;
        Ok(())
    }
}

/// Always fails, as a handler facing a poison message would.
struct AlwaysFails;

#[async_trait::async_trait]
impl Handler for AlwaysFails {
    async fn handle(&self, _: &mut PgConnection, _: &Envelope) -> Result<(), HandleError> {
        Err(HandleError::Transient(anyhow::anyhow!(
            "test handler refuses every event"
        )))
    }
}

async fn seen(db: &PgPool, id: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM test_seen WHERE event_id = $1")
        .bind(id)
        .fetch_one(db)
        .await
        .unwrap()
}

async fn create_seen_table(db: &PgPool) {
    sqlx::query("CREATE TABLE IF NOT EXISTS test_seen (event_id uuid NOT NULL, at timestamptz DEFAULT now())")
        .execute(db)
        .await
        .unwrap();
}

async fn enqueue(db: &PgPool, outbox: Outbox) -> Uuid {
    let mut tx = db.begin().await.unwrap();
    let id = outbox::enqueue(
        &mut tx,
        outbox,
        Event::ContactPending {
            contact_id: Uuid::new_v4(),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id
}

#[tokio::test]
async fn event_through_outbox_reaches_consumer_exactly_once() {
    let app = spawn_app().await;
    create_seen_table(&app.infra.db).await;
    let stop = CancellationToken::new();
    let spec = ConsumerSpec {
        durable: "test-recorder".into(),
        event_type: "contact.pending".into(),
        inbox: Inbox::Notifier,
    };
    let runner = ConsumerRunner::new(&app.infra, spec.clone(), Arc::new(Recorder));
    let consumer = tokio::spawn(runner.run(stop.clone()));

    // front's relay (running in the app) publishes it.
    let id = enqueue(&app.infra.db, Outbox::Front).await;
    eventually(Duration::from_secs(10), || async {
        (seen(&app.infra.db, id).await == 1).then_some(())
    })
    .await;
    let published: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT published_at FROM front_outbox WHERE id = $1")
            .bind(id)
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    assert!(published.is_some(), "the relay marks the row published");

    // A redelivery from outside the duplicate window (same event id, other
    // Nats-Msg-Id) is recognised by the processed-event key.
    let payload: serde_json::Value =
        sqlx::query_scalar("SELECT payload FROM front_outbox WHERE id = $1")
            .bind(id)
            .fetch_one(&app.infra.db)
            .await
            .unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", "another-msg-id");
    app.infra
        .js
        .publish_with_headers(
            app.infra.subjects.event_type("contact.pending"),
            headers,
            serde_json::to_vec(&payload).unwrap().into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    // Wait until the consumer has taken it (no pending, no unacked), then count.
    let stream = app
        .infra
        .js
        .get_stream(app.infra.subjects.events_stream())
        .await
        .unwrap();
    eventually(Duration::from_secs(10), || {
        let stream = stream.clone();
        async move {
            let mut c = stream
                .get_consumer::<async_nats::jetstream::consumer::pull::Config>("test-recorder")
                .await
                .ok()?;
            let info = c.info().await.ok()?;
            (info.num_pending == 0
                && info.num_ack_pending == 0
                && info.delivered.stream_sequence >= 2)
                .then_some(())
        }
    })
    .await;
    assert_eq!(seen(&app.infra.db, id).await, 1, "handled exactly once");

    stop.cancel();
    consumer.await.unwrap().unwrap();
    app.stop().await;
}

#[tokio::test]
async fn crash_between_commit_and_publish_still_delivers_once() {
    let app = spawn_app().await;
    create_seen_table(&app.infra.db).await;
    // The scheduler's relay is running in the app; use the notifier's
    // outbox with relays we start and "crash" ourselves. The app's notifier
    // relay runs too, which is the "several relays at once" case.
    let db = app.infra.db.clone();

    // Commit without any publish: simulate by writing while no relay of ours
    // runs, then drop a relay before it does anything.
    let ids: Vec<Uuid> =
        futures::future::join_all((0..20).map(|_| enqueue(&db, Outbox::Notifier))).await;
    let relay = Relay::new(&app.infra, Outbox::Notifier);
    let crashed = CancellationToken::new();
    let handle = tokio::spawn(relay.run(crashed.clone()));
    handle.abort(); // the crash
    let _ = handle.await;

    // A new relay (and the app's) picks the rows up.
    let relay = Relay::new(&app.infra, Outbox::Notifier);
    let stop = CancellationToken::new();
    let r = tokio::spawn(relay.run(stop.clone()));

    let spec = ConsumerSpec {
        durable: "test-crash".into(),
        event_type: "contact.pending".into(),
        inbox: Inbox::Notifier,
    };
    let consumer =
        tokio::spawn(ConsumerRunner::new(&app.infra, spec, Arc::new(Recorder)).run(stop.clone()));
    for id in &ids {
        let id = *id;
        eventually(Duration::from_secs(15), || async {
            (seen(&db, id).await == 1).then_some(())
        })
        .await;
    }

    // Crash after publish but before marking: un-mark the rows and publish
    // them again. The duplicate window stores each once.
    let stream = app
        .infra
        .js
        .get_stream(app.infra.subjects.events_stream())
        .await
        .unwrap();
    let before = stream.clone().info().await.unwrap().state.messages;
    sqlx::query("UPDATE notifier_outbox SET published_at = NULL WHERE id = ANY($1)")
        .bind(&ids)
        .execute(&db)
        .await
        .unwrap();
    Relay::new(&app.infra, Outbox::Notifier)
        .drain()
        .await
        .unwrap();
    let after = stream.clone().info().await.unwrap().state.messages;
    assert_eq!(before, after, "re-published duplicates are stored once");
    assert_eq!(before, 20);
    tokio::time::sleep(Duration::from_millis(500)).await;
    for id in &ids {
        assert_eq!(seen(&db, *id).await, 1);
    }

    stop.cancel();
    r.await.unwrap().unwrap();
    consumer.await.unwrap().unwrap();
    app.stop().await;
}

#[tokio::test]
async fn poison_message_goes_to_dead_letters_with_reason() {
    let app = spawn_app().await;
    let stop = CancellationToken::new();
    let spec = ConsumerSpec {
        durable: "test-poison".into(),
        event_type: "appeal.received".into(),
        inbox: Inbox::Notifier,
    };
    let consumer = tokio::spawn(
        ConsumerRunner::new(&app.infra, spec, Arc::new(AlwaysFails)).run(stop.clone()),
    );

    let mut tx = app.infra.db.begin().await.unwrap();
    let id = outbox::enqueue(
        &mut tx,
        Outbox::Front,
        Event::AppealReceived {
            appeal_id: Uuid::new_v4(),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    // And a body nobody can read: dead-lettered at once.
    let mut headers = HeaderMap::new();
    headers.insert("Nats-Msg-Id", "garbage-1");
    app.infra
        .js
        .publish_with_headers(
            app.infra.subjects.event_type("appeal.received"),
            headers,
            "not json".into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();

    let dlq = app
        .infra
        .js
        .get_stream(app.infra.subjects.dlq_stream())
        .await
        .unwrap();
    let reader = dlq
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            durable_name: Some("test-reader".into()),
            // Only this test's consumer: the notifier's own consumer of
            // `appeal.received` dead-letters the garbage body too.
            filter_subject: app.infra.subjects.dead_letter("test-poison"),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = reader.messages().await.unwrap();
    let mut found = Vec::new();
    while found.len() < 2 {
        let m = tokio::time::timeout(Duration::from_secs(30), messages.next())
            .await
            .expect("dead letters arrive")
            .unwrap()
            .unwrap();
        let h = m.headers.clone().unwrap();
        found.push((
            h.get("Nasvyazi-Dlq-Deliveries").unwrap().to_string(),
            h.get(DLQ_REASON).unwrap().to_string(),
            h.get("Nats-Msg-Id").unwrap().to_string(),
            m.payload.clone(),
        ));
        m.ack().await.unwrap();
    }
    found.sort_by(|a, b| a.2.cmp(&b.2));
    let poison = found
        .iter()
        .find(|f| f.2.contains(&id.to_string()))
        .unwrap();
    assert_eq!(poison.0, "3", "dead-lettered after max_deliver attempts");
    assert!(
        poison.1.contains("test handler refuses every event"),
        "{}",
        poison.1
    );
    let env: Envelope = serde_json::from_slice(&poison.3).unwrap();
    assert_eq!(env.id, id, "the original body is kept");
    let garbage = found.iter().find(|f| f.2.contains("garbage-1")).unwrap();
    assert_eq!(garbage.0, "1", "an unreadable body is not retried");
    assert!(garbage.1.contains("unreadable event body"), "{}", garbage.1);

    stop.cancel();
    consumer.await.unwrap().unwrap();
    app.stop().await;
}
