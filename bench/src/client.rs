//! The one HTTP client every measurement uses, against Kumo and against the floor server alike.

use anyhow::{bail, Context, Result};
use kumo_api::sigv4::{Credentials, ToSign};
use std::time::{Duration, Instant, SystemTime};

pub const KEY: &str = "bench";
pub const SECRET: &str = "bench-secret";

/// A request prepared (and signed) ahead of its timing.
#[derive(Clone)]
pub struct Prepared {
    method: reqwest::Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    signed_at: Option<Instant>,
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    /// Sign requests (Kumo) or not (the floor server).
    sign: bool,
}

impl Client {
    pub fn new(base: &str, sign: bool) -> Result<Self> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(120))
            .build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            sign,
        })
    }

    pub fn prepare(&self, method: &str, path: &str, body: Vec<u8>) -> Result<Prepared> {
        self.prepare_with(method, path, body, &[])
    }

    pub fn prepare_with(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        extra: &[(&str, &str)],
    ) -> Result<Prepared> {
        let url = format!("{}{path}", self.base);
        let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        headers.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let mut signed_at = None;
        if self.sign {
            let plain: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let added = kumo_api::sigv4::sign(
                &ToSign {
                    method,
                    url: &url,
                    headers: &plain,
                    body: &body,
                },
                &Credentials {
                    access_key_id: KEY.into(),
                    secret_access_key: SECRET.into(),
                },
                "us-east-1",
                "lambda",
                SystemTime::now(),
            )
            .map_err(anyhow::Error::msg)?;
            headers.extend(added);
            signed_at = Some(Instant::now());
        }
        Ok(Prepared {
            method: method.parse()?,
            url,
            headers,
            body,
            signed_at,
        })
    }

    /// A signature is good for minutes; long loops refresh theirs now and then.
    pub fn refresh(&self, p: &Prepared) -> Result<Prepared> {
        match p.signed_at {
            Some(at) if at.elapsed() > Duration::from_secs(60) => {
                let path = p.url[self.base.len()..].to_owned();
                self.prepare(p.method.as_str(), &path, p.body.clone())
            }
            _ => Ok(p.clone()),
        }
    }

    /// Sends a prepared request; returns status, body and the wall time of the exchange.
    pub async fn send(&self, p: &Prepared) -> Result<(u16, Vec<u8>, Duration)> {
        let (status, _, body, took) = self.send_full(p).await?;
        Ok((status, body, took))
    }

    /// [`Client::send`], with the answer's headers.
    pub async fn send_full(
        &self,
        p: &Prepared,
    ) -> Result<(u16, reqwest::header::HeaderMap, Vec<u8>, Duration)> {
        let mut req = self.http.request(p.method.clone(), &p.url);
        for (k, v) in &p.headers {
            req = req.header(k, v);
        }
        let req = req.body(p.body.clone()).build()?;
        let started = Instant::now();
        let resp = self.http.execute(req).await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await?.to_vec();
        Ok((status, headers, body, started.elapsed()))
    }

    /// Prepares and sends; fails on a non-2xx answer.
    pub async fn call(&self, method: &str, path: &str, body: Vec<u8>) -> Result<Vec<u8>> {
        let p = self.prepare(method, path, body)?;
        let (status, body, _) = self.send(&p).await?;
        if !(200..300).contains(&status) {
            bail!(
                "{method} {path}: HTTP {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        Ok(body)
    }

    pub async fn call_json(
        &self,
        method: &str,
        path: &str,
        body: serde_json::Value,
    ) -> Result<serde_json::Value> {
        let out = self.call(method, path, serde_json::to_vec(&body)?).await?;
        if out.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&out).with_context(|| format!("{method} {path}: answer is not JSON"))
    }
}
