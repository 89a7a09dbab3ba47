//! Limits on organisers' templates (campaign messages, letters to
//! officials): they are code run by the server, on every preview, on the
//! console's texts page and in the notifier for every recipient.
//!
//! Without limits one loop of 10^8 iterations took 8.5 s per preview on the
//! async worker threads, and nested ranges ran for a quarter of an hour.
//! Here every render has minijinja's *fuel* ([`FUEL`] instructions), an
//! output of at most [`MAX_OUTPUT`] bytes (the writer refuses more, so
//! the output never grows past it in memory) and a low recursion limit.
//! [`check`] runs a template once with stand-in values at save time, so a
//! template over the limits is refused with a clear error before anyone
//! previews or sends it. Previews run off the async threads with
//! [`render_blocking`], which also gives up after [`TIMEOUT`].

use std::io::Write;
use std::time::Duration;

use minijinja::{Environment, Error, ErrorKind, Value};

/// Instructions one render may run (some milliseconds). A message uses a
/// few hundred; a collective letter looping over 10,000 signatories about
/// 100,000.
pub const FUEL: u64 = 500_000;
/// Bytes one render may produce (a message is a few kilobytes; a
/// collective letter's list of 10,000 names some hundreds).
pub const MAX_OUTPUT: usize = 1024 * 1024;
/// Nesting of blocks, macros and includes.
const RECURSION: usize = 16;
/// How long a preview waits for a render off the async threads.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// Why a template is refused, in words an organiser can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Limit {
    #[error("the template does too much work (more than {FUEL} steps): remove large loops")]
    Fuel,
    #[error("the template's output is over {} KiB", MAX_OUTPUT / 1024)]
    Output,
    #[error("the template did not finish in time")]
    Timeout,
}

/// Whether a minijinja error is one of the limits (rather than a mistake in
/// the template).
pub fn limit_of(e: &Error) -> Option<Limit> {
    match e.kind() {
        ErrorKind::OutOfFuel => Some(Limit::Fuel),
        _ if is_output_limit(e) => Some(Limit::Output),
        // A string repeated past minijinja's own cap is a size problem too.
        ErrorKind::InvalidOperation if e.to_string().contains("too large") => Some(Limit::Output),
        _ => None,
    }
}

fn is_output_limit(e: &Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if s.downcast_ref::<OverLimit>().is_some() {
            return true;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io.get_ref().is_some_and(|i| i.is::<OverLimit>())
        {
            return true;
        }
        source = s.source();
    }
    e.to_string().contains(OVER_LIMIT)
}

const OVER_LIMIT: &str = "template output over the limit";

#[derive(Debug)]
struct OverLimit;

impl std::fmt::Display for OverLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(OVER_LIMIT)
    }
}

impl std::error::Error for OverLimit {}

/// Puts the limits on an environment for organisers' templates.
pub fn limit(env: &mut Environment<'_>) {
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(RECURSION);
}

/// A writer that refuses to grow past [`MAX_OUTPUT`].
struct Bounded(Vec<u8>);

impl Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > MAX_OUTPUT {
            return Err(std::io::Error::other(OverLimit));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Renders `src` under the limits (the environment must have had [`limit`]
/// applied: it carries the fuel).
pub fn render(env: &Environment<'_>, src: &str, ctx: &Value) -> Result<String, Error> {
    let t = env.template_from_str(src)?;
    let mut out = Bounded(Vec::new());
    t.render_captured_to(ctx, &mut out)?;
    String::from_utf8(out.0)
        .map_err(|_| Error::new(ErrorKind::InvalidOperation, "template output is not UTF-8"))
}

/// Runs a render (`f`) on the blocking pool, so an expensive template never
/// holds an async worker thread; gives up waiting after [`TIMEOUT`] (the
/// fuel ends the render itself soon after).
pub async fn render_blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Limit> {
    match tokio::time::timeout(TIMEOUT, tokio::task::spawn_blocking(f)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(join)) => std::panic::resume_unwind(join.into_panic()),
        Err(_) => Err(Limit::Timeout),
    }
}

/// Runs `src` once with `ctx` (stand-in values) under the limits, at save
/// time: `Err` names the limit the template goes over. Other render errors
/// (an undefined filter, say) are the syntax check's business and pass
/// here.
pub fn check(src: &str, ctx: &Value) -> Result<(), Limit> {
    let mut env = Environment::new();
    limit(&mut env);
    match render(&env, src, ctx) {
        Err(e) => limit_of(&e).map_or(Ok(()), Err),
        Ok(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_bomb_runs_out_of_fuel_quickly() {
        let started = std::time::Instant::now();
        let bomb =
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}";
        assert_eq!(check(bomb, &Value::UNDEFINED), Err(Limit::Fuel));
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_large_output_is_refused_before_it_grows() {
        let big = "{{ 'x' * 10000000 }}";
        assert_eq!(check(big, &Value::UNDEFINED), Err(Limit::Output));
        let many = "{% for i in range(5000) %}{{ 'y' * 1000 }}{% endfor %}";
        assert_eq!(check(many, &Value::UNDEFINED), Err(Limit::Output));
    }

    #[test]
    fn ordinary_templates_pass() {
        let ctx = Value::from_serialize(serde_json::json!({ "org": "Forum", "items": [1, 2, 3] }));
        assert_eq!(
            check(
                "Hello from {{ org }}{% for i in items %} {{ i }}{% endfor %}",
                &ctx
            ),
            Ok(())
        );
        let mut env = Environment::new();
        limit(&mut env);
        assert_eq!(render(&env, "{{ org }}!", &ctx).unwrap(), "Forum!");
    }
}
