//! Greets the caller: `{"name":"Ada"}` -> `{"message":"Hello, Ada!","requestId":"..."}`.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Request {
    name: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    message: String,
    request_id: String,
}

async fn handler(event: LambdaEvent<Request>) -> Result<Response, Error> {
    let name = event.payload.name.unwrap_or_else(|| "world".into());
    println!("greeting {name}");
    Ok(Response {
        message: format!("Hello, {name}!"),
        request_id: event.context.request_id,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}
