//! End-to-end with the Rust AWS SDK: the real `kumo serve` on 127.0.0.1:0, driven by
//! `aws-sdk-lambda` exactly as an application would drive AWS Lambda.

use aws_sdk_lambda::config::{Credentials, Region};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, Runtime};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

struct Server {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server() -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_kumo"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("KUMO_AUTH_ACCESS_KEY_ID", "test")
        .env("KUMO_AUTH_SECRET_ACCESS_KEY", "test")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start kumo serve");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("ready line");
    let url = line
        .trim()
        .strip_prefix("kumo listening on ")
        .unwrap_or_else(|| panic!("unexpected ready line {line:?}"))
        .to_owned();
    Server {
        child,
        url,
        _dir: dir,
    }
}

fn client(url: &str) -> aws_sdk_lambda::Client {
    client_with_secret(url, "test")
}

fn client_with_secret(url: &str, secret: &str) -> aws_sdk_lambda::Client {
    let http = aws_smithy_http_client::Builder::new().build_http();
    let config = aws_sdk_lambda::Config::builder()
        .endpoint_url(url)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", secret, None, None, "static"))
        .http_client(http)
        .build();
    aws_sdk_lambda::Client::from_conf(config)
}

fn python_zip(source: &str) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("app.py", zip::write::SimpleFileOptions::default())
        .expect("zip entry");
    w.write_all(source.as_bytes()).expect("zip write");
    w.finish().expect("zip finish").into_inner()
}

#[tokio::test]
async fn rust_sdk_creates_invokes_and_deletes_a_function() {
    let server = start_server();
    let lambda = client(&server.url);
    let code = python_zip(
        "import os\ndef handler(event, context):\n    return {'greeting': os.environ['GREETING'] + ' ' + event['name'], 'fn': context.function_name}\n",
    );
    let created = lambda
        .create_function()
        .function_name("sdk-fn")
        .runtime(Runtime::Python311)
        .role("arn:aws:iam::123456789012:role/sdk")
        .handler("app.handler")
        .environment(
            Environment::builder()
                .variables("GREETING", "hello")
                .build(),
        )
        .code(FunctionCode::builder().zip_file(Blob::new(code)).build())
        .send()
        .await
        .expect("create_function");
    assert_eq!(created.function_name(), Some("sdk-fn"));
    assert_eq!(created.version(), Some("$LATEST"));

    let out = lambda
        .invoke()
        .function_name("sdk-fn")
        .payload(Blob::new(r#"{"name": "kumo"}"#))
        .send()
        .await
        .expect("invoke");
    assert_eq!(out.status_code(), 200);
    assert_eq!(out.function_error(), None);
    let payload: serde_json::Value =
        serde_json::from_slice(out.payload().expect("payload").as_ref()).expect("json payload");
    assert_eq!(payload["greeting"], "hello kumo");
    assert_eq!(payload["fn"], "sdk-fn");

    let listed = lambda
        .list_functions()
        .send()
        .await
        .expect("list_functions");
    assert_eq!(listed.functions().len(), 1);

    lambda
        .delete_function()
        .function_name("sdk-fn")
        .send()
        .await
        .expect("delete_function");
    let err = lambda
        .get_function()
        .function_name("sdk-fn")
        .send()
        .await
        .expect_err("deleted function is gone");
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_resource_not_found_exception()),
        "expected ResourceNotFoundException, got {err:?}"
    );
}

#[tokio::test]
async fn rust_sdk_with_a_wrong_secret_is_refused() {
    use aws_sdk_lambda::error::ProvideErrorMetadata;
    let server = start_server();
    let err = client_with_secret(&server.url, "not-the-secret")
        .list_functions()
        .send()
        .await
        .expect_err("a wrong secret is refused");
    assert_eq!(err.code(), Some("InvalidSignatureException"), "{err:?}");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
    client(&server.url)
        .list_functions()
        .send()
        .await
        .expect("the right key works");
}
