//! Campaigns under chaos, with real `nasvyazi` processes: two replicas of
//! each service on a three-node NATS cluster with a node and a replica
//! killed (case 2), PostgreSQL restarted (case 3), the SMTP server failing
//! for a while (case 4). Sizes: small by default; `NASVYAZI_CHAOS_FULL=1`
//! (`just chaos`) runs the issue's sizes.

use std::time::{Duration, Instant};

use nasvyazi_tests::cluster::{Deployment, NatsCluster, tally};
use nasvyazi_tests::smtp::Behaviour;

use super::{full, wait_until};

/// Batch size of the notifiers here: the most a killed notifier can have
/// claimed and sent without recording it.
const BATCH: usize = 10;

const NOTIFIER: &str = "[notifier]\nbatch_size = 10\nconcurrency = 2\n";

/// Each message takes the SMTP server this long to accept, so a campaign
/// lasts long enough (a few seconds) to be hit mid-way.
const STALL: Duration = Duration::from_millis(40);

/// A deployment whose SMTP server answers after [`STALL`].
async fn deployment(cluster: Option<NatsCluster>) -> Deployment {
    let d = Deployment::start(cluster, NOTIFIER).await;
    d.smtp.set_behaviour(Behaviour::Stall(STALL));
    d
}

/// Waits until at least `k` distinct recipients got a message, checking
/// that every process is still up.
async fn wait_received(d: &mut Deployment, k: usize, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        d.assert_all_up();
        let got = tally(&d.smtp.messages()).len();
        if got >= k {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {got} of {k} recipients within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// After every recipient got one: every delivery is final, and the
/// figures (received, duplicates).
async fn settle(d: &mut Deployment, addresses: &[String]) -> (usize, usize) {
    wait_until(Duration::from_secs(60), || async {
        (d.deliveries_open().await == 0).then_some(())
    })
    .await;
    let messages = d.smtp.messages();
    let per = tally(&messages);
    for a in addresses {
        assert!(per.contains_key(a), "{a} got nothing");
    }
    (per.len(), messages.len() - per.len())
}

/// Case 2: two replicas of each service, streams R3 on three nodes; one
/// NATS node killed at ~30 %, one notifier replica at ~65 %; the node comes
/// back. Every recipient gets it; duplicates at most one claimed batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_a_three_node_cluster_lose_a_node_and_a_replica_and_deliver_all() {
    let n = if full() { 5000 } else { 300 };
    let cluster = NatsCluster::start().await;
    let mut d = deployment(Some(cluster)).await;
    for svc in [
        "front",
        "scheduler",
        "notifier",
        "front",
        "scheduler",
        "notifier",
    ] {
        d.spawn(&[svc]).await;
    }
    let addresses = d.insert_contacts("r", n).await;
    let started = Instant::now();
    d.start_campaign(0).await;

    wait_received(&mut d, n * 30 / 100, Duration::from_secs(120)).await;
    // Kill the node leading the events stream: its clients reconnect to
    // another, the stream elects a new leader.
    let events = d.config.nats.prefix.to_uppercase().replace('-', "_") + "_EVENTS";
    let leader = d
        .stream_leader(&events)
        .await
        .expect("events stream leader");
    let cluster = d.cluster.as_mut().unwrap();
    let node = cluster.index_of(&leader).unwrap();
    cluster.kill(node);
    // Events keep flowing on the two nodes left: people subscribing through
    // both front replicas get their confirmation mail (contact.pending ->
    // a notifier replica), beside the campaign.
    let k = n / 10;
    let mut addresses = addresses;
    addresses.extend(d.subscribe(0, "s", 0..k / 2).await);
    addresses.extend(d.subscribe(3, "s", k / 2..k).await);
    wait_received(&mut d, n * 65 / 100, Duration::from_secs(180)).await;
    d.kill(5); // the second notifier, holding a claimed batch
    d.cluster.as_mut().unwrap().restart(node).await;
    let n = n + k;
    wait_received(&mut d, n, Duration::from_secs(300)).await;
    let (received, duplicates) = settle(&mut d, &addresses).await;
    eprintln!(
        "chaos case 2 (cluster): recipients {n}, received {received}, duplicates {duplicates}, \
         kills 2 (NATS node {leader} leading the events stream, notifier replica), seconds {:.1}",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(received, n);
    assert!(
        duplicates <= BATCH,
        "{duplicates} duplicates > one batch ({BATCH}) in flight"
    );
}

/// Case 2 without kills: two notifier replicas on the cluster never send
/// one delivery twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_a_three_node_cluster_never_double_send() {
    let n = if full() { 5000 } else { 300 };
    let cluster = NatsCluster::start().await;
    let mut d = deployment(Some(cluster)).await;
    for svc in [
        "front",
        "scheduler",
        "notifier",
        "front",
        "scheduler",
        "notifier",
    ] {
        d.spawn(&[svc]).await;
    }
    let addresses = d.insert_contacts("r", n).await;
    let started = Instant::now();
    d.start_campaign(0).await;
    wait_received(&mut d, n, Duration::from_secs(300)).await;
    let (received, duplicates) = settle(&mut d, &addresses).await;
    eprintln!(
        "chaos case 2 (no kills): recipients {n}, received {received}, duplicates {duplicates}, \
         kills 0, seconds {:.1}",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(received, n);
    assert_eq!(duplicates, 0);
}

/// Case 3: `pg_ctl restart -m fast` mid-campaign: the workers reconnect,
/// the campaign completes, nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_mid_campaign_loses_nothing() {
    let n = if full() { 3000 } else { 300 };
    let mut d = deployment(None).await;
    d.spawn(&["up"]).await;
    let addresses = d.insert_contacts("p", n).await;
    let started = Instant::now();
    d.start_campaign(0).await;
    wait_received(&mut d, n * 40 / 100, Duration::from_secs(120)).await;
    d.pg.restart();
    wait_received(&mut d, n, Duration::from_secs(300)).await;
    let (received, duplicates) = settle(&mut d, &addresses).await;
    eprintln!(
        "chaos case 3 (PostgreSQL restart): recipients {n}, received {received}, \
         duplicates {duplicates}, kills 1 (pg_ctl restart -m fast), seconds {:.1}",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(received, n);
    assert!(duplicates <= BATCH, "{duplicates} duplicates");
}

/// Case 4: the SMTP server answers 421 and then drops connections for a
/// while: retried with backoff, nothing lost; the server records nothing it
/// did not answer 250, so nothing is duplicated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_421_and_dropped_connections_are_retried_without_loss() {
    let n = if full() { 3000 } else { 200 };
    let mut d = deployment(None).await;
    d.spawn(&["up"]).await;
    let addresses = d.insert_contacts("s", n).await;
    let started = Instant::now();
    d.start_campaign(0).await;
    wait_received(&mut d, n * 20 / 100, Duration::from_secs(120)).await;
    d.smtp.set_behaviour(Behaviour::TempFail {
        code: 421,
        times: 40,
    });
    wait_until(Duration::from_secs(60), || async {
        (d.smtp.behaviour() == Behaviour::Accept).then_some(())
    })
    .await;
    d.smtp.set_behaviour(Behaviour::Stall(STALL));
    wait_received(&mut d, n * 50 / 100, Duration::from_secs(180)).await;
    d.smtp.set_behaviour(Behaviour::Drop { times: 40 });
    wait_received(&mut d, n, Duration::from_secs(300)).await;
    let (received, duplicates) = settle(&mut d, &addresses).await;
    eprintln!(
        "chaos case 4 (SMTP 421 x40, dropped x40): recipients {n}, received {received}, \
         duplicates {duplicates}, attempts {}, seconds {:.1}",
        d.smtp.attempts(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(received, n);
    assert_eq!(duplicates, 0);
}
