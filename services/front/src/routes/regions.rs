//! `GET /api/v1/regions`: the reference list every form uses.

use axum::extract::State;
use nasvyazi_shared::error::{ApiError, ApiJson};
use nasvyazi_shared::regions::{self, Names, Region};

use crate::AppState;

/// Built-in places merged with the ones organisers added.
pub async fn load(state: &AppState) -> Result<Vec<Region>, sqlx::Error> {
    let custom: Vec<(String, String, String, String, String)> = sqlx::query_as(
        "SELECT region_code, city_code, name_ru, name_kk, name_en FROM custom_places ORDER BY created_at",
    )
    .fetch_all(&state.infra.db)
    .await?;
    Ok(regions::merged(
        custom
            .into_iter()
            .map(|(r, c, ru, kk, en)| (r, c, Names { ru, kk, en }))
            .collect(),
    ))
}

/// Kazakhstan's regions and cities, with names in ru / kk / en.
#[utoipa::path(get, path = "/api/v1/regions", tag = "reference",
    responses((status = 200, description = "regions with their cities", body = [Region])))]
pub async fn list(State(state): State<AppState>) -> Result<ApiJson<Vec<Region>>, ApiError> {
    Ok(ApiJson(load(&state).await?))
}
