//! The settings page's mail section: the sending domain's SPF, DKIM (each
//! selector) and DMARC looked up in DNS and shown as found / missing /
//! wrong with the exact record to publish; and bounces and complaints of
//! the last 30 days, counted per kind of message (never an address).
//!
//! Offline (the demo's folder outbox, or no answer from any resolver
//! within two seconds) every record says "not checked".

use std::time::Duration;

use hickory_resolver::TokioResolver;
use nasvyazi_shared::Config;
use nasvyazi_shared::config::EmailTransport;
use nasvyazi_shared::email::dkim::DkimSigner;
use serde::Serialize;
use sqlx::PgPool;

/// One record's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Found,
    Missing,
    Wrong,
    NotChecked,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// "SPF", "DKIM s2026", "DMARC".
    pub label: String,
    /// Where it lives.
    pub name: String,
    pub state: State,
    /// What to publish there (TXT).
    pub publish: String,
}

/// The domains and records the configuration implies.
struct Wanted {
    from_domain: String,
    envelope_domain: String,
    smtp_host: String,
    dkim: Vec<(String, String)>,
}

fn wanted(c: &Config) -> Option<Wanted> {
    let from_domain = nasvyazi_shared::email::domain_of(&c.email.from)?;
    let envelope_domain = c
        .email
        .return_path
        .rsplit_once('@')
        .map(|(_, d)| d.trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| from_domain.clone());
    let smtp_host = {
        use secrecy::ExposeSecret;
        let url = c.email.smtp_url.expose_secret();
        let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        let host_port = authority
            .rsplit_once('@')
            .map(|(_, h)| h)
            .unwrap_or(authority);
        match host_port.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or("").to_string(),
            None => host_port.split(':').next().unwrap_or("").to_string(),
        }
    };
    let dkim = DkimSigner::from_config(&c.email)
        .ok()
        .flatten()
        .map(|s| s.records().into_iter().map(|r| (r.name, r.value)).collect())
        .unwrap_or_default();
    Some(Wanted {
        from_domain,
        envelope_domain,
        smtp_host,
        dkim,
    })
}

/// The TXT strings at `name`: `Ok(None)` when there are none (NXDOMAIN or
/// no TXT), `Err` when DNS did not answer.
async fn txt(r: &TokioResolver, name: &str) -> Result<Option<Vec<String>>, ()> {
    match r.txt_lookup(format!("{name}.")).await {
        Ok(l) => Ok(Some(
            l.iter()
                .map(|t| {
                    t.txt_data()
                        .iter()
                        .map(|d| String::from_utf8_lossy(d).into_owned())
                        .collect::<String>()
                })
                .collect(),
        )),
        Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(None),
        Err(_) => Err(()),
    }
}

fn tag<'a>(record: &'a str, name: &str) -> Option<&'a str> {
    record.split(';').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim())
    })
}

fn resolver() -> Option<TokioResolver> {
    let mut b = TokioResolver::builder_tokio().ok()?;
    b.options_mut().timeout = Duration::from_secs(2);
    b.options_mut().attempts = 1;
    Some(b.build())
}

/// Looks the records up (at most a few seconds; each lookup bounded).
pub async fn checks(c: &Config) -> Vec<Check> {
    let Some(w) = wanted(c) else {
        return Vec::new();
    };
    let spf_mechanism = if w.smtp_host.parse::<std::net::Ipv4Addr>().is_ok() {
        format!("ip4:{}", w.smtp_host)
    } else if w.smtp_host.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("ip6:{}", w.smtp_host)
    } else {
        format!("a:{}", w.smtp_host)
    };
    let mut out = vec![Check {
        label: "SPF".into(),
        name: w.envelope_domain.clone(),
        state: State::NotChecked,
        publish: format!("v=spf1 {spf_mechanism} ~all"),
    }];
    for (name, value) in &w.dkim {
        let selector = name.split('.').next().unwrap_or("").to_string();
        out.push(Check {
            label: format!("DKIM {selector}"),
            name: name.clone(),
            state: State::NotChecked,
            publish: value.clone(),
        });
    }
    out.push(Check {
        label: "DMARC".into(),
        name: format!("_dmarc.{}", w.from_domain),
        state: State::NotChecked,
        publish: format!(
            "v=DMARC1; p=quarantine; adkim=r; aspf=r; rua=mailto:dmarc@{}",
            w.from_domain
        ),
    });
    if c.email.transport == EmailTransport::Outbox {
        return out;
    }
    let Some(r) = resolver() else {
        return out;
    };
    for check in &mut out {
        let found = tokio::time::timeout(Duration::from_secs(3), txt(&r, &check.name)).await;
        let Ok(Ok(records)) = found else {
            // One unanswered lookup: DNS is out of reach; stop asking.
            break;
        };
        let records = records.unwrap_or_default();
        check.state = if check.label == "SPF" {
            let spf: Vec<&String> = records
                .iter()
                .filter(|t| t.to_ascii_lowercase().starts_with("v=spf1"))
                .collect();
            match spf.as_slice() {
                [] => State::Missing,
                [one] if !one.contains("+all") => State::Found,
                _ => State::Wrong,
            }
        } else if check.label == "DMARC" {
            let dmarc: Vec<&String> = records
                .iter()
                .filter(|t| t.to_ascii_uppercase().starts_with("V=DMARC1"))
                .collect();
            match dmarc.as_slice() {
                [] => State::Missing,
                [one] if tag(one, "p").is_some() => State::Found,
                _ => State::Wrong,
            }
        } else {
            let want = tag(&check.publish, "p").unwrap_or("");
            let keys: Vec<&str> = records
                .iter()
                .filter(|t| t.contains("p="))
                .filter_map(|t| tag(t, "p"))
                .collect();
            if keys.is_empty() {
                State::Missing
            } else if keys
                .iter()
                .any(|k| k.replace(char::is_whitespace, "") == want)
            {
                State::Found
            } else {
                State::Wrong
            }
        };
    }
    out
}

/// Bounces and complaints of the last 30 days per kind of message.
#[derive(Debug, Clone, Serialize)]
pub struct BounceRow {
    pub kind: String,
    pub bounced: i64,
    pub complained: i64,
}

pub async fn bounces(db: &PgPool) -> sqlx::Result<(Vec<BounceRow>, i64)> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT d.kind,
                count(*) FILTER (WHERE b.kind IN ('hard', 'soft')),
                count(*) FILTER (WHERE b.kind = 'complaint')
         FROM bounce_events b JOIN deliveries d ON d.id = b.delivery_id
         WHERE b.received_at > now() - interval '30 days'
         GROUP BY d.kind ORDER BY d.kind",
    )
    .fetch_all(db)
    .await?;
    let suppressed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM suppressions WHERE reason IN ('bounce', 'soft bounces', 'complaint')",
    )
    .fetch_one(db)
    .await?;
    Ok((
        rows.into_iter()
            .map(|(kind, bounced, complained)| BounceRow {
                kind,
                bounced,
                complained,
            })
            .collect(),
        suppressed,
    ))
}
