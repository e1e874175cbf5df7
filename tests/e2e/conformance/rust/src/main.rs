//! The conformance function for custom runtimes, served by the `lambda_runtime` crate.
//! Operations are selected by the event's `op` (see ../README.md).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::{json, Map, Value};

static INIT_RUNS: AtomicU64 = AtomicU64::new(0);
static INVOCATIONS: AtomicU64 = AtomicU64::new(0);
const TMP_FILE: &str = "/tmp/conformance.txt";

fn remaining_ms(deadline: u64) -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    deadline as i64 - now
}

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let invocations = INVOCATIONS.fetch_add(1, Ordering::SeqCst) + 1;
    let (payload, ctx) = event.into_parts();
    let op = payload.get("op").and_then(Value::as_str).unwrap_or("echo");
    match op {
        "echo" => Ok(payload),
        "error" => Err(Diagnostic {
            error_type: "ConformanceError".into(),
            error_message: payload["message"].as_str().unwrap_or("").into(),
        }),
        "crash" => {
            let empty: Vec<u8> = Vec::new();
            let index = payload["index"].as_u64().unwrap_or(1) as usize;
            Ok(json!(empty[index]))
        }
        "sleep" => {
            let ms = payload["ms"].as_u64().unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(json!({ "slept": ms }))
        }
        "exit" => std::process::exit(payload["code"].as_i64().unwrap_or(1) as i32),
        "context" => {
            let first = remaining_ms(ctx.deadline);
            tokio::time::sleep(Duration::from_millis(20)).await;
            let second = remaining_ms(ctx.deadline);
            Ok(json!({
                "request_id": ctx.request_id,
                "function_name": ctx.env_config.function_name,
                "function_version": ctx.env_config.version,
                "memory_limit_in_mb": ctx.env_config.memory,
                "invoked_function_arn": ctx.invoked_function_arn,
                "log_group_name": ctx.env_config.log_group,
                "log_stream_name": ctx.env_config.log_stream,
                "remaining_ms": [first, second],
            }))
        }
        "env" => {
            let mut env = Map::new();
            for name in payload["names"].as_array().into_iter().flatten() {
                let name = name.as_str().unwrap_or("");
                env.insert(name.into(), std::env::var(name).map(Value::from).unwrap_or(Value::Null));
            }
            Ok(json!({ "env": env }))
        }
        "tmp" => {
            if let Some(text) = payload["write"].as_str() {
                std::fs::write(TMP_FILE, text).map_err(|e| Diagnostic {
                    error_type: "ConformanceError".into(),
                    error_message: e.to_string(),
                })?;
            }
            let content = std::fs::read_to_string(TMP_FILE).ok();
            Ok(json!({ "content": content }))
        }
        "count" => Ok(json!({
            "init": INIT_RUNS.load(Ordering::SeqCst),
            "invocations": invocations,
        })),
        "log" => {
            let lines = payload["lines"].as_array().cloned().unwrap_or_default();
            for line in &lines {
                println!("{}", line.as_str().unwrap_or(""));
            }
            if let Some(text) = payload["stderr"].as_str() {
                eprintln!("{text}");
            }
            Ok(json!({ "logged": lines.len() }))
        }
        other => Err(Diagnostic {
            error_type: "ConformanceError".into(),
            error_message: format!("unknown op {other}"),
        }),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    INIT_RUNS.fetch_add(1, Ordering::SeqCst);
    if std::env::var("CONF_INIT_FAIL").as_deref() == Ok("1") {
        return Err("conformance init failure".into());
    }
    lambda_runtime::run(service_fn(handler)).await
}
