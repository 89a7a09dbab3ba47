//! Streams on a three-node JetStream cluster with `nats.replicas = 3`.

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::pull};
use nasvyazi_shared::Config;
use nasvyazi_shared::nats::{self, Subjects};
use nasvyazi_tests::cluster::NatsCluster;
use nasvyazi_tests::unique_name;

fn cluster_config(urls: &str) -> Config {
    let prefix = unique_name("c").replace('_', "-");
    Config::from_toml(&format!(
        "[nats]\nurl = \"{urls}\"\nprefix = \"{prefix}\"\nreplicas = 3\n"
    ))
    .unwrap()
}

/// Three services starting at once each create-or-update both R3 streams,
/// then start again (the update path): all succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r3_streams_are_created_and_updated_by_concurrent_starters() {
    let cluster = NatsCluster::start().await;
    let config = cluster_config(&cluster.urls());
    let subjects = Subjects::new(&config.nats.prefix);
    for round in 0..2 {
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..3 {
            let (config, subjects) = (config.clone(), subjects.clone());
            tasks.spawn(async move {
                let client = nats::connect(&config.nats, &format!("starter-{i}")).await?;
                let js = nats::jetstream(client);
                nats::ensure_streams(&js, &subjects, &config.nats).await
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.unwrap().expect("ensure_streams on the cluster");
        }
        eprintln!("round {round}: {:?}", started.elapsed());
    }
    let client = nats::connect(&config.nats, "check").await.unwrap();
    let js = nats::jetstream(client);
    let info = js
        .get_stream(subjects.events_stream())
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .clone();
    assert_eq!(info.config.num_replicas, 3);

    // Two replicas of a service creating the same durable consumer at once.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..3 {
        let (config, subjects) = (config.clone(), subjects.clone());
        tasks.spawn(async move {
            let client = nats::connect(&config.nats, &format!("replica-{i}")).await?;
            let js = nats::jetstream(client);
            let stream = js.get_stream(subjects.events_stream()).await?;
            nats::ensure_consumer(
                &stream,
                pull::Config {
                    durable_name: Some("notifier-contact-pending".into()),
                    filter_subject: subjects.event_type("contact.pending"),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: Duration::from_secs(5),
                    max_deliver: 6,
                    ..Default::default()
                },
            )
            .await
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap().expect("ensure_consumer on the cluster");
    }
}
