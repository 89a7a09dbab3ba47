//! OST sites the organisers keep: appeals may name one, statistics count
//! by them. Sites are deactivated, never deleted, so old appeals and the
//! counts of erased ones keep a meaningful code.

use nasvyazi_supporters::regions::Names;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;

use super::model::SiteRef;

/// One site, as the public list and the admin API show it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Site {
    pub code: String,
    pub region: String,
    pub city: String,
    pub name: Names,
    pub active: bool,
}

type Row = (String, String, String, String, String, String, bool);

fn from_row((code, region, city, ru, kk, en, active): Row) -> Site {
    Site {
        code,
        region,
        city,
        name: Names { ru, kk, en },
        active,
    }
}

/// Every site (`all`) or only the active ones, optionally in one region.
pub async fn list(db: &PgPool, all: bool, region: Option<&str>) -> sqlx::Result<Vec<Site>> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT code, region_code, city_code, name_ru, name_kk, name_en, active FROM sites
         WHERE ($1 OR active) AND ($2::text IS NULL OR region_code = $2)
         ORDER BY region_code, city_code, code",
    )
    .bind(all)
    .bind(region)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// What validation needs: the active sites' codes and regions.
pub async fn active_refs(db: &PgPool) -> sqlx::Result<Vec<SiteRef>> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT code, region_code FROM sites WHERE active")
            .fetch_all(db)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(code, region)| SiteRef { code, region })
        .collect())
}

/// Adds a site; `false` if the code is taken.
pub async fn add(conn: &mut PgConnection, site: &Site) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "INSERT INTO sites (code, region_code, city_code, name_ru, name_kk, name_en)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (code) DO NOTHING",
    )
    .bind(&site.code)
    .bind(&site.region)
    .bind(&site.city)
    .bind(&site.name.ru)
    .bind(&site.name.kk)
    .bind(&site.name.en)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Turns a site on or off; `false` if there is no such site.
pub async fn set_active(conn: &mut PgConnection, code: &str, active: bool) -> sqlx::Result<bool> {
    Ok(sqlx::query("UPDATE sites SET active = $2 WHERE code = $1")
        .bind(code)
        .bind(active)
        .execute(conn)
        .await?
        .rows_affected()
        == 1)
}
