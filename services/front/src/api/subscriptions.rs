//! `POST /api/v1/subscriptions` and `GET /api/v1/topics`.

use axum::extract::State;
use axum::http::StatusCode;
use nasvyazi_shared::error::{ApiError, ApiJson};
use nasvyazi_shared::i18n::{self, Lang};
use nasvyazi_supporters::contacts::topics;
use nasvyazi_supporters::regions::Names;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;
use nasvyazi_supporters::contacts::TopicCode;
use nasvyazi_supporters::regions::RegionCode;
use nasvyazi_supporters::subscriptions::Subscription;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionRequest {
    /// The supporter's address (never echoed, never logged).
    #[schema(
        max_length = 254,
        pattern = "^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,32}(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,15}){0,2}@([A-Za-z0-9]{1,20}\\.){1,3}[A-Za-z]{2,10}$"
    )]
    pub email: String,
    pub language: Lang,
    /// Topic codes from `GET /api/v1/topics`; empty for general updates.
    #[serde(default)]
    #[schema(value_type = Vec<TopicCode>)]
    pub topics: Vec<String>,
    /// A region code from `GET /api/v1/regions`.
    #[schema(value_type = Option<RegionCode>)]
    pub region: Option<String>,
}

/// The one answer to every well-formed request.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    pub status: &'static str,
    pub message: &'static str,
}

const ACCEPTED: Accepted = Accepted {
    status: "accepted",
    message: "If the address can receive mail, a confirmation link is on its way.",
};

/// Asks for a subscription (double opt-in). The answer is the same whether
/// the address is new, pending, active, unsubscribed or suppressed.
#[utoipa::path(post, path = "/api/v1/subscriptions", tag = "public",
    request_body = SubscriptionRequest,
    params(("X-Proof-Of-Work" = Option<String>, Header,
            description = "While `GET /api/v1/challenge` says `required`: the challenge, solved (`<challenge>:<counter>`) or `wait_secs` old; single use. Without it: 429 `proof_of_work`.")),
    responses((status = 202, body = Accepted), (status = 400, body = nasvyazi_shared::error::ErrorBody),
              (status = 429, body = nasvyazi_shared::error::ErrorBody),
              (status = 415, body = nasvyazi_shared::error::ErrorBody), (status = 422, body = nasvyazi_shared::error::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    ApiJson(body): ApiJson<SubscriptionRequest>,
) -> Result<(StatusCode, ApiJson<Accepted>), ApiError> {
    let known = nasvyazi_supporters::regions::load(&state.infra.db).await?;
    let sub = Subscription::parse(
        &body.email,
        body.language.code(),
        &body.topics,
        body.region.as_deref(),
        &known,
    )
    .map_err(|invalid| {
        ApiError::validation(format!(
            "{}: {}",
            invalid.field(),
            i18n::t(Lang::En, invalid.message_key())
        ))
    })?;
    let onion = crate::pages::via_onion(&state, &headers);
    state.request_opt_in(&sub, onion).await?;
    Ok((StatusCode::ACCEPTED, ApiJson(ACCEPTED)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Topic {
    pub code: String,
    pub name: Names,
}

/// Topics a supporter can choose.
#[utoipa::path(get, path = "/api/v1/topics", tag = "reference",
    responses((status = 200, body = [Topic])))]
pub async fn list_topics() -> ApiJson<Vec<Topic>> {
    ApiJson(
        topics()
            .iter()
            .map(|code| {
                let key = format!("topic.{code}");
                Topic {
                    code: code.clone(),
                    name: Names {
                        ru: i18n::t(Lang::Ru, &key),
                        kk: i18n::t(Lang::Kk, &key),
                        en: i18n::t(Lang::En, &key),
                    },
                }
            })
            .collect(),
    )
}
