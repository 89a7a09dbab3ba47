//! `nasvyazi config` shows the effective configuration without secrets.

use clap::Parser;
use nasvyazi_cli::{Cli, execute};

#[tokio::test]
async fn config_command_redacts_every_secret() {
    let dir = std::env::temp_dir().join(nasvyazi_tests::unique_name("cfg"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("nasvyazi.toml");
    let keys = nasvyazi_shared::crypto::Keyring::generate();
    use secrecy::ExposeSecret;
    let master = keys.master_base64().expose_secret().to_string();
    std::fs::write(
        &file,
        format!(
            "[database]\nurl = \"postgres://u:canary-db-pw-5521@127.0.0.1/x\"\n[nats]\ntoken = \"canary-nats-5521\"\nprefix = \"fromfile\"\n[crypto]\nmaster_key = \"{master}\"\n"
        ),
    )
    .unwrap();
    let cli = Cli::parse_from(["nasvyazi", "--config", file.to_str().unwrap(), "config"]);
    let mut out = Vec::new();
    execute(cli, &mut out).await.unwrap();
    let shown = String::from_utf8(out).unwrap();
    assert!(shown.contains("prefix = \"fromfile\""), "{shown}");
    for secret in ["canary-db-pw-5521", "canary-nats-5521", master.as_str()] {
        assert!(!shown.contains(secret), "secret shown:\n{shown}");
    }
    assert!(shown.contains("[redacted]"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn keygen_prints_two_distinct_valid_keys() {
    let cli = Cli::parse_from(["nasvyazi", "keygen"]);
    let mut out = Vec::new();
    execute(cli, &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    let keys: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_once('=').map(|(_, v)| v))
        .collect();
    assert_eq!(keys.len(), 2);
    assert_ne!(keys[0], keys[1]);
    for k in keys {
        nasvyazi_shared::crypto::decode_key(k).unwrap();
    }
}

#[test]
fn the_example_production_config_is_valid() {
    let example = include_str!("../../deploy/nasvyazi.example.toml");
    let c =
        nasvyazi_shared::Config::from_toml(example).expect("deploy/nasvyazi.example.toml loads");
    assert_eq!(c.nats.replicas, 3);
    assert_eq!(
        c.email.transport,
        nasvyazi_shared::config::EmailTransport::Smtp
    );
}
