//! `GET /api/v1/regions`: the reference list every form uses.

use axum::extract::State;
use nasvyazi_shared::error::{ApiError, ApiJson};
use nasvyazi_supporters::regions::{self, Region};

use crate::AppState;

/// Kazakhstan's regions and cities, with names in ru / kk / en.
#[utoipa::path(get, path = "/api/v1/regions", tag = "reference",
    responses((status = 200, description = "regions with their cities", body = [Region])))]
pub async fn list(State(state): State<AppState>) -> Result<ApiJson<Vec<Region>>, ApiError> {
    Ok(ApiJson(regions::load(&state.infra.db).await?))
}
