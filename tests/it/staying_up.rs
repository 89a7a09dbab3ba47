//! Staying up: start-up waits for its dependencies (with `/readyz` saying
//! what it waits for), and `/metrics` has something to scrape from the
//! first second.

use std::sync::Arc;
use std::time::Duration;

use nasvyazi_tests::{create_database, drop_database, servers, spawn_app, test_config};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn metrics_are_there_on_a_fresh_start() {
    let app = spawn_app().await;
    // One request, so the HTTP figures have a route to show.
    let r = app
        .http
        .get(format!("http://{}/healthz", app.notifier))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = app
        .http
        .get(format!("http://{}/metrics", app.notifier))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        "nasvyazi_deliveries_due{channel=\"email\"} 0",
        "nasvyazi_outbox_unpublished{outbox=\"front_outbox\"}",
        "nasvyazi_dead_letters_total{consumer=\"notifier-contact-pending\"} 0",
        "nasvyazi_worker_restarts_total{worker=\"delivery-worker\"} 0",
        "nasvyazi_consumer_pending{consumer=\"notifier-campaign-triggered\"}",
        "nasvyazi_build_info{version=",
        "nasvyazi_process_resident_memory_bytes",
        "nasvyazi_process_open_fds",
        "nasvyazi_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}",
        "nasvyazi_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",le=\"0.005\"}",
        "# HELP nasvyazi_deliveries_total",
    ] {
        assert!(
            body.contains(expected),
            "/metrics lacks {expected}:\n{body}"
        );
    }
    // Route templates only: a token in a path never becomes a label.
    let _ = app
        .http
        .get(app.public_url("/u/SECRET-TOKEN-CANARY"))
        .send()
        .await
        .unwrap();
    let body = app
        .http
        .get(format!("http://{}/metrics", app.notifier))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!body.contains("SECRET-TOKEN-CANARY"));
    app.stop().await;
}

/// A free loopback port (bound, then released).
async fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

/// Forwards every connection on `listener` to `target`.
async fn forward(listener: TcpListener, target: String) {
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            return;
        };
        let target = target.clone();
        tokio::spawn(async move {
            if let Ok(mut outbound) = TcpStream::connect(&target).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

#[tokio::test]
async fn start_up_waits_for_postgresql_and_says_so() {
    let (url, db_name) = create_database().await;
    // The database "is down": its URL names a port nothing listens on yet.
    let pg = servers().pg_admin_url;
    let host_port = pg
        .split('@')
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_string();
    let port = free_port().await;
    let down_url = url.replace(&host_port, &format!("127.0.0.1:{port}"));
    assert_ne!(down_url, url);
    let config = Arc::new(test_config(&down_url, ""));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(nasvyazi_scheduler::run(
        config.clone(),
        listener,
        shutdown.clone(),
    ));
    let http = reqwest::Client::new();
    // While waiting: alive, not ready, and it says for what.
    let mut waiting = None;
    for _ in 0..100 {
        if let Ok(r) = http.get(format!("http://{addr}/readyz")).send().await {
            waiting = Some((r.status(), r.text().await.unwrap()));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = waiting.expect("the listener answers while starting");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"waiting_for\":\"postgresql\""), "{body}");
    let live = http
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    assert!(!task.is_finished(), "start-up gave up instead of waiting");

    // PostgreSQL "comes back": the service finishes starting by itself.
    let proxy = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let proxy = tokio::spawn(forward(proxy, host_port));
    let mut ready = false;
    for _ in 0..600 {
        if let Ok(r) = http.get(format!("http://{addr}/readyz")).send().await
            && r.status() == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        ready,
        "the service never became ready after PostgreSQL came up"
    );
    shutdown.cancel();
    task.await.unwrap().unwrap();
    proxy.abort();
    drop_database(&db_name).await;
}

#[tokio::test]
async fn a_missing_database_stops_start_up_at_once() {
    let (url, db_name) = create_database().await;
    // A database that does not exist is configuration, not an outage.
    let wrong = url.replace(&db_name, "nvt_no_such_database_here");
    let config = Arc::new(test_config(&wrong, ""));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let result = tokio::time::timeout(
        Duration::from_secs(60),
        nasvyazi_scheduler::run(config, listener, CancellationToken::new()),
    )
    .await
    .expect("start-up stops instead of waiting forever");
    let err = result.expect_err("a missing database is an error");
    assert!(format!("{err:#}").contains("database.url"), "{err:#}");
    drop_database(&db_name).await;
}
