//! The console as a person uses it, without a browser: cookies kept by
//! hand, redirects not followed, forms posted as browsers post them
//! ([`ConsoleAgent`], beside [`crate::AdminClient`] for the JSON API).

use crate::TestApp;
use reqwest::header::{LOCATION, SET_COOKIE};

/// A browser without a browser: cookies kept by hand, redirects not
/// followed.
pub struct ConsoleAgent<'a> {
    pub app: &'a TestApp,
    pub jar: Vec<(String, String)>,
    /// Every `Set-Cookie` seen, as sent.
    pub set_cookies: Vec<String>,
    /// Headers sent with every request (`X-Forwarded-For`, `Origin` ...).
    pub headers: Vec<(&'static str, String)>,
}

impl<'a> ConsoleAgent<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        ConsoleAgent {
            app,
            jar: Vec::new(),
            set_cookies: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn keep(&mut self, res: &reqwest::Response) {
        for v in res.headers().get_all(SET_COOKIE) {
            let v = v.to_str().unwrap().to_string();
            let (pair, attrs) = v.split_once(';').unwrap_or((&v, ""));
            let (name, value) = pair.split_once('=').unwrap();
            self.jar.retain(|(n, _)| n != name);
            if !attrs.contains("Max-Age=0") {
                self.jar.push((name.to_string(), value.to_string()));
            }
            self.set_cookies.push(v.clone());
        }
    }

    pub fn cookies(&self) -> String {
        self.jar
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn get(&mut self, path: &str) -> reqwest::Response {
        let mut req = self
            .app
            .http
            .get(self.app.url(path))
            .header("cookie", self.cookies());
        for (k, v) in &self.headers {
            req = req.header(*k, v);
        }
        let res = req.send().await.unwrap();
        self.keep(&res);
        res
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let body: String = form_urlencoded(form);
        let mut req = self
            .app
            .http
            .post(self.app.url(path))
            .header("cookie", self.cookies())
            .header("content-type", "application/x-www-form-urlencoded");
        for (k, v) in &self.headers {
            req = req.header(*k, v);
        }
        let res = req.body(body).send().await.unwrap();
        self.keep(&res);
        res
    }

    /// The CSRF token of the page at `path` (the first form's).
    pub async fn csrf(&mut self, path: &str) -> String {
        let html = self.get(path).await.text().await.unwrap();
        csrf_in(&html)
    }

    /// Signs in with the password form; returns the answer.
    pub async fn sign_in(&mut self, email: &str, password: &str) -> reqwest::Response {
        let csrf = self.csrf("/admin/sign-in").await;
        self.post(
            "/admin/sign-in",
            &[("csrf", &csrf), ("email", email), ("password", password)],
        )
        .await
    }
}

pub fn form_urlencoded(form: &[(&str, &str)]) -> String {
    form.iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn csrf_in(html: &str) -> String {
    let start = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token")
        + "name=\"csrf\" value=\"".len();
    html[start..].split('"').next().unwrap().to_string()
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}
