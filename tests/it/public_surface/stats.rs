//! Complementary suppression, end to end: a table in which one cell is 3
//! publishes no margin or total from which the 3 can be worked out.

use nasvyazi_shared::auth::Role;
use nasvyazi_tests::spawn_app;
use serde_json::Value;

#[tokio::test]
async fn a_cell_of_three_cannot_be_recomputed_from_any_published_total() {
    let app = spawn_app().await;
    let rows = [
        ("2026-01-01", "almaty", "police", 12),
        ("2026-01-01", "almaty", "other", 3),
        ("2026-01-01", "pavlodar", "police", 20),
        ("2026-01-01", "pavlodar", "other", 9),
        ("2026-02-01", "almaty", "police", 14),
        ("2026-02-01", "almaty", "other", 8),
        ("2026-02-01", "pavlodar", "police", 11),
        ("2026-02-01", "pavlodar", "other", 30),
    ];
    for (month, region, category, n) in rows {
        sqlx::query(
            "INSERT INTO appeal_counts (month, region, city, site, category, n)
             VALUES ($1::date, $2, $2, '', $3, $4)",
        )
        .bind(month)
        .bind(region)
        .bind(category)
        .bind(n)
        .execute(&app.infra.db)
        .await
        .unwrap();
    }
    let caseworker = app.token(Role::Caseworker).await;
    let path = "/api/v1/admin/appeals/stats?from=2026-01-01&to=2026-02-28";
    let r = app
        .http
        .get(app.public_url(path))
        .bearer_auth(&caseworker)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "not on the public listener");
    let stats: Value = app
        .http
        .get(app.console_url(path))
        .bearer_auth(&caseworker)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cells = stats["cells"].as_array().unwrap();
    let cell = |month: &str, region: &str, category: &str| {
        cells
            .iter()
            .find(|c| c["month"] == month && c["region"] == region && c["category"] == category)
            .unwrap()["count"]
            .clone()
    };
    assert_eq!(cell("2026-01", "almaty", "other"), "<5");
    assert_eq!(stats["total"], 107);
    // No margin line shown exactly has exactly one hidden cell under it,
    // and the total has none or at least two hidden lines per dimension.
    let hidden = |v: &Value| v.is_string();
    for (margin, field) in [
        ("by_month", "month"),
        ("by_region", "region"),
        ("by_site", "site"),
        ("by_category", "category"),
    ] {
        let lines = stats[margin].as_array().unwrap();
        for line in lines {
            let under = cells
                .iter()
                .filter(|c| c[field] == line["key"] && hidden(&c["count"]))
                .count();
            assert!(
                hidden(&line["count"]) || under != 1,
                "{margin} {} gives a hidden cell away: {stats:#}",
                line["key"]
            );
        }
        let hidden_lines = lines.iter().filter(|l| hidden(&l["count"])).count();
        assert_ne!(hidden_lines, 1, "{margin}: the total gives a line away");
    }
    // Before complementary suppression January (44) was shown with three
    // of its four cells: 44 - 12 - 20 - 9 = 3.
    let shown_january: Vec<&Value> = cells
        .iter()
        .filter(|c| c["month"] == "2026-01" && !hidden(&c["count"]))
        .collect();
    assert!(shown_january.len() <= 2, "{shown_january:?}");
    app.stop().await;
}
