//! Security headers on every public route (the router's own table of
//! paths, walked with GET and POST) and on error pages.

use nasvyazi_tests::spawn_app_with;

fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                "no-such-thing"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_public_route_and_error_page_carries_the_security_headers() {
    // A large per-client budget: the walk is about headers, not limits.
    let app = spawn_app_with("[limits]\npublic_posts_per_minute = 1000\n").await;
    let paths = nasvyazi_front::api::public_paths();
    assert!(
        paths.len() >= 20,
        "the walk sees the whole table: {paths:?}"
    );
    let mut urls: Vec<String> = paths.iter().map(|p| concrete(p)).collect();
    urls.push("/no/such/page".into());
    urls.push("/admin".into());
    urls.push("/metrics".into());
    let mut seen = std::collections::BTreeSet::new();
    for path in &urls {
        for post in [false, true] {
            let url = app.public_url(path);
            let req = if post {
                app.http.post(&url).form(&[("email", "x")])
            } else {
                app.http.get(&url)
            };
            let r = req.send().await.unwrap();
            let what = format!(
                "{} {path} -> {}",
                if post { "POST" } else { "GET" },
                r.status()
            );
            seen.insert(r.status().as_u16());
            let h = |name: &str| {
                r.headers()
                    .get(name)
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_else(|| panic!("{what}: no {name}"))
            };
            let csp = h("content-security-policy");
            for part in [
                "default-src 'none'",
                "frame-ancestors 'none'",
                "base-uri 'none'",
            ] {
                assert!(csp.contains(part), "{what}: CSP {csp}");
            }
            assert!(
                !csp.contains("script-src"),
                "{what}: no script on public pages"
            );
            assert_eq!(h("referrer-policy"), "no-referrer", "{what}");
            assert_eq!(h("x-content-type-options"), "nosniff", "{what}");
            assert_eq!(h("x-frame-options"), "DENY", "{what}");
            if !path.starts_with("/static/") {
                assert_eq!(h("cache-control"), "no-store", "{what}");
            }
            // Every cookie but the language preference (which must
            // survive a link from an email, so Lax) is HttpOnly and Strict.
            for cookie in r.headers().get_all("set-cookie") {
                let c = cookie.to_str().unwrap();
                if !c.starts_with("lang=") {
                    assert!(
                        c.contains("HttpOnly") && c.contains("SameSite=Strict"),
                        "{what}: {c}"
                    );
                }
            }
        }
    }
    // The walk met pages, refusals and errors alike.
    for status in [200, 403, 404, 405] {
        assert!(seen.contains(&status), "no {status} among {seen:?}");
    }
    app.stop().await;
}
