//! `POST /`, the one route of the AWS JSON 1.1 protocol: picks the service by `X-Amz-Target`.
//! CloudWatch Logs (`Logs_20140328.*`) goes to [`crate::logs_api`], EventBridge (`AWSEvents.*`)
//! to [`crate::events_api`].

use crate::json11::{ok, Json11Error};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

/// `POST /`: routes by `X-Amz-Target`.
pub async fn dispatch(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let Some((service, op)) = target.split_once('.') else {
        return Json11Error::new(
            "UnknownOperationException",
            "missing or malformed X-Amz-Target header",
        )
        .into_response();
    };
    let input = if body.is_empty() {
        serde_json::Value::Object(Default::default())
    } else {
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(v @ serde_json::Value::Object(_)) => v,
            _ => {
                return Json11Error::new(
                    "SerializationException",
                    "the request body is not a JSON object",
                )
                .into_response()
            }
        }
    };
    let result = match service {
        "Logs_20140328" => crate::logs_api::handle(&state, op, input).await,
        "AWSEvents" => crate::events_api::handle(&state, op, input).await,
        _ => Err(Json11Error::new(
            "UnknownOperationException",
            format!("unknown service {service}"),
        )),
    };
    match result {
        Ok(v) => ok(v),
        Err(e) => e.into_response(),
    }
}
