//! `just bench`: measures nasvyazi on this machine against references
//! measured side by side in the same run, prints a table, and writes
//! `target/bench/results.json` (name, value, unit, reference, ratio).
//!
//! Each section lives in its own module and adds figures to [`Results`].
//! Sections that need a tool this machine lacks record why they skipped.

mod fanout;
mod front;
mod push;
mod results;
mod scheduler;
mod smtp;
mod support;
mod telegram;

use results::Results;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let only: Vec<String> = std::env::args().skip(1).collect();
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let mut results = Results::default();
    if wanted("smtp") {
        section(&mut results, "smtp", smtp::run()).await;
    }
    if wanted("scheduler") {
        section(&mut results, "scheduler", scheduler::run()).await;
    }
    if wanted("fanout") {
        section(&mut results, "fanout", fanout::run()).await;
    }
    if wanted("front") {
        section(&mut results, "front", front::run()).await;
    }
    if wanted("telegram") {
        section(&mut results, "telegram", telegram::run()).await;
    }
    if wanted("push") {
        section(&mut results, "push", push::run()).await;
    }
    results.print_table();
    let path = results.write("target/bench/results.json")?;
    println!("\nwrote {}", path.display());
    Ok(())
}

/// Runs a section; a failure is recorded, not fatal to the other sections.
async fn section(
    results: &mut Results,
    name: &str,
    fut: impl std::future::Future<Output = anyhow::Result<Results>>,
) {
    eprintln!("== {name}");
    match fut.await {
        Ok(r) => results.extend(r),
        Err(e) => {
            eprintln!("   {name} failed: {e:#}");
            results.note(name, &format!("failed: {e:#}"));
        }
    }
}
