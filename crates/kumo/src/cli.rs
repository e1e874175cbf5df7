//! The user CLI: `kumo deploy | invoke | list | delete`, a thin client of Kumo's Lambda API.

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use kumo_api::sigv4::{Credentials, ToSign};
use reqwest::blocking::{Client, Response};
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;

const AUTH_HINT: &str = "\n(sign requests with --access-key/--secret-key, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or --data-dir pointing at the server's data directory)";

/// The region requests are signed for: the flag, else `AWS_REGION`/`AWS_DEFAULT_REGION`, else
/// `us-east-1` (Kumo accepts any).
fn signing_region(flag: Option<&str>) -> String {
    flag.map(str::to_owned)
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "us-east-1".into())
}

/// Adds a SigV4 `Authorization` (and `X-Amz-Date`) to a request about to be sent. The service is
/// `lambda`, or `logs`/`events` for those JSON APIs.
fn sign(request: &mut reqwest::blocking::Request, c: &Credentials, region: &str) -> Result<()> {
    let added = {
        let body: &[u8] = match request.body() {
            None => &[],
            Some(b) => b
                .as_bytes()
                .context("cannot sign a streamed request body")?,
        };
        let service = match request
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
        {
            Some(t) if t.starts_with("Logs_") => "logs",
            Some(t) if t.starts_with("AWSEvents") => "events",
            _ => "lambda",
        };
        let headers: Vec<(&str, &str)> = request
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
            .collect();
        kumo_api::sigv4::sign(
            &ToSign {
                method: request.method().as_str(),
                url: request.url().as_str(),
                headers: &headers,
                body,
            },
            c,
            region,
            service,
            std::time::SystemTime::now(),
        )
        .map_err(|e| anyhow::anyhow!("while signing the request: {e}"))?
    };
    for (name, value) in added {
        request.headers_mut().insert(
            reqwest::header::HeaderName::from_bytes(name.as_bytes())?,
            reqwest::header::HeaderValue::from_str(&value)?,
        );
    }
    Ok(())
}

pub struct Api {
    pub(crate) client: Client,
    endpoint: String,
    /// Signs every request (SigV4) when set.
    credentials: Option<Credentials>,
    region: String,
}

impl Api {
    pub fn new(endpoint: &str) -> Result<Self> {
        let client = Client::builder()
            .timeout(std::time::Duration::from_secs(960))
            .build()
            .context("while building the HTTP client")?;
        Ok(Self {
            client,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            credentials: crate::auth::client_credentials(
                std::env::var("AWS_ACCESS_KEY_ID").ok(),
                std::env::var("AWS_SECRET_ACCESS_KEY").ok(),
                None,
            )
            .unwrap_or(None),
            region: signing_region(None),
        })
    }

    /// Signs requests with `credentials` (unsigned when `None`) for `region`.
    pub fn with_credentials(
        mut self,
        credentials: Option<Credentials>,
        region: Option<&str>,
    ) -> Self {
        self.credentials = credentials;
        self.region = signing_region(region);
        self
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoint)
    }

    pub(crate) fn send(&self, req: reqwest::blocking::RequestBuilder) -> Result<Response> {
        let mut request = req.build().context("while building the request")?;
        if let Some(c) = &self.credentials {
            sign(&mut request, c, &self.region)?;
        }
        self.client.execute(request).with_context(|| {
            format!(
                "while contacting Kumo at {} (is `kumo serve` running?)",
                self.endpoint
            )
        })
    }
}

/// Turns an error response into a readable error.
pub(crate) fn check(resp: Response) -> Result<Value> {
    let status = resp.status();
    let code = resp
        .headers()
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = resp.text().unwrap_or_default();
    if status.is_success() {
        return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
    }
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let message = body
        .get("message")
        .or_else(|| body.get("Message"))
        .and_then(Value::as_str)
        .unwrap_or(&text);
    let hint = if status == reqwest::StatusCode::FORBIDDEN {
        AUTH_HINT
    } else {
        ""
    };
    bail!(
        "{} ({status}): {message}{hint}",
        code.as_deref().unwrap_or("Error")
    )
}

/// Zips a directory the way Lambda expects: paths relative to it, modes kept.
pub fn zip_dir(dir: &Path) -> Result<Vec<u8>> {
    use std::os::unix::fs::PermissionsExt;
    let mut files = Vec::new();
    collect(dir, dir, &mut files)?;
    files.sort();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for rel in files {
        let path = dir.join(&rel);
        let mode = std::fs::metadata(&path)
            .with_context(|| format!("while reading {}", path.display()))?
            .permissions()
            .mode();
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(mode & 0o777);
        w.start_file(rel.to_string_lossy(), opts)?;
        let data =
            std::fs::read(&path).with_context(|| format!("while reading {}", path.display()))?;
        w.write_all(&data)?;
    }
    Ok(w.finish()?.into_inner())
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<()> {
    for entry in
        std::fs::read_dir(dir).with_context(|| format!("while listing {}", dir.display()))?
    {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        if name == ".git" || name == "__pycache__" {
            continue;
        }
        if entry.file_type()?.is_dir() {
            collect(root, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push(rel.to_owned());
        }
    }
    Ok(())
}

pub struct DeployArgs<'a> {
    pub dir: &'a Path,
    pub name: &'a str,
    pub runtime: &'a str,
    pub handler: &'a str,
    pub memory: Option<u32>,
    pub timeout: Option<u32>,
    pub env: &'a [(String, String)],
}

pub fn deploy(api: &Api, a: &DeployArgs<'_>) -> Result<()> {
    let zip = zip_dir(a.dir)?;
    let zip_b64 = base64::engine::general_purpose::STANDARD.encode(&zip);
    let exists = api
        .send(
            api.client
                .get(api.url(&format!("/2015-03-31/functions/{}/configuration", a.name))),
        )?
        .status()
        .is_success();
    let mut config = json!({ "Runtime": a.runtime, "Handler": a.handler });
    if let Some(m) = a.memory {
        config["MemorySize"] = m.into();
    }
    if let Some(t) = a.timeout {
        config["Timeout"] = t.into();
    }
    if !a.env.is_empty() {
        let vars: serde_json::Map<String, Value> = a
            .env
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        config["Environment"] = json!({ "Variables": vars });
    }
    let result = if exists {
        check(
            api.send(
                api.client
                    .put(api.url(&format!("/2015-03-31/functions/{}/code", a.name)))
                    .json(&json!({ "ZipFile": zip_b64 })),
            )?,
        )?;
        check(
            api.send(
                api.client
                    .put(api.url(&format!("/2015-03-31/functions/{}/configuration", a.name)))
                    .json(&config),
            )?,
        )?
    } else {
        config["FunctionName"] = a.name.into();
        config["Role"] = "arn:aws:iam::123456789012:role/kumo".into();
        config["Code"] = json!({ "ZipFile": zip_b64 });
        check(
            api.send(
                api.client
                    .post(api.url("/2015-03-31/functions"))
                    .json(&config),
            )?,
        )?
    };
    println!(
        "{} {} ({}, {} bytes, sha256 {})",
        if exists { "updated" } else { "created" },
        a.name,
        result["Runtime"].as_str().unwrap_or(a.runtime),
        result["CodeSize"],
        result["CodeSha256"].as_str().unwrap_or("")
    );
    Ok(())
}

/// Prints the payload; returns false when the function failed.
pub fn invoke(api: &Api, name: &str, payload: Option<&str>, tail: bool) -> Result<bool> {
    let body = match payload {
        None => b"{}".to_vec(),
        Some(p) => match p.strip_prefix('@') {
            Some(file) => {
                std::fs::read(file).with_context(|| format!("while reading payload file {file}"))?
            }
            None => p.as_bytes().to_vec(),
        },
    };
    let mut req = api
        .client
        .post(api.url(&format!("/2015-03-31/functions/{name}/invocations")))
        .body(body);
    if tail {
        req = req.header("X-Amz-Log-Type", "Tail");
    }
    let resp = api.send(req)?;
    if !resp.status().is_success() {
        check(resp)?;
        return Ok(false);
    }
    let function_error = resp
        .headers()
        .get("x-amz-function-error")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let log = resp
        .headers()
        .get("x-amz-log-result")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok());
    let payload = resp.bytes().context("while reading the response")?;
    let mut out = std::io::stdout().lock();
    out.write_all(&payload)?;
    writeln!(out)?;
    if let Some(log) = log {
        eprint!("{}", String::from_utf8_lossy(&log));
    }
    if let Some(kind) = function_error {
        let doc: Value = serde_json::from_slice(&payload).unwrap_or(Value::Null);
        eprintln!(
            "function error ({kind}): {}: {}",
            doc["errorType"].as_str().unwrap_or("Error"),
            doc["errorMessage"].as_str().unwrap_or("")
        );
        return Ok(false);
    }
    Ok(true)
}

pub fn list(api: &Api) -> Result<()> {
    let mut marker: Option<String> = None;
    loop {
        let mut req = api.client.get(api.url("/2015-03-31/functions"));
        if let Some(m) = &marker {
            req = req.query(&[("Marker", m)]);
        }
        let page = check(api.send(req)?)?;
        for f in page["Functions"].as_array().into_iter().flatten() {
            println!(
                "{}\t{}\t{}\t{} MB\t{} s",
                f["FunctionName"].as_str().unwrap_or(""),
                f["Runtime"].as_str().unwrap_or(""),
                f["Handler"].as_str().unwrap_or(""),
                f["MemorySize"],
                f["Timeout"]
            );
        }
        match page["NextMarker"].as_str() {
            Some(m) if !m.is_empty() => marker = Some(m.to_owned()),
            _ => return Ok(()),
        }
    }
}

pub fn delete(api: &Api, name: &str) -> Result<()> {
    check(
        api.send(
            api.client
                .delete(api.url(&format!("/2015-03-31/functions/{name}"))),
        )?,
    )?;
    println!("deleted {name}");
    Ok(())
}

/// Gives a function a URL with `auth_type` (creating or updating its configuration) and prints
/// both of its forms.
pub fn ensure_url(api: &Api, name: &str, auth_type: &str) -> Result<()> {
    let path = format!("/2021-10-31/functions/{name}/url");
    let current = api.send(api.client.get(api.url(&path)))?;
    let config = if current.status() == reqwest::StatusCode::NOT_FOUND {
        check(
            api.send(
                api.client
                    .post(api.url(&path))
                    .json(&json!({ "AuthType": auth_type })),
            )?,
        )?
    } else {
        let config = check(current)?;
        if config["AuthType"].as_str() == Some(auth_type) {
            config
        } else {
            check(
                api.send(
                    api.client
                        .put(api.url(&path))
                        .json(&json!({ "AuthType": auth_type })),
                )?,
            )?
        }
    };
    let url = config["FunctionUrl"].as_str().unwrap_or_default();
    let url_id = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split('.').next())
        .unwrap_or_default();
    println!("url {url} ({auth_type})");
    println!("    {}/urls/{url_id}/", api.endpoint);
    Ok(())
}
