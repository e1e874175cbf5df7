//! AWS Signature Version 4: Kumo verifies it on every API request, and the `kumo` CLI signs with it.
//!
//! Verification recomputes the signature over the request *as received* — the method, the path
//! exactly as sent (double-encoded in the canonical request, as botocore and the AWS SDKs do for
//! every service but S3), the query, the headers the caller listed in `SignedHeaders`, and the
//! SHA-256 of the body — using the `aws-sigv4` crate for the signing math, then compares the result
//! with the caller's signature in constant time. The service and region are taken from the caller's
//! credential scope, so the same check serves Lambda (`lambda`), CloudWatch Logs (`logs`) and
//! EventBridge (`events`) in any region. Both forms clients send are accepted: the `Authorization`
//! header and presigned query parameters (`X-Amz-Signature`, `X-Amz-Expires`...).
//!
//! Checking happens in two steps so that a request with a malformed, stale or unknown signature is
//! refused before its body is read: [`KeyRing::precheck`] looks only at the head, then
//! [`Prechecked::verify`] hashes the body and compares signatures.

use aws_sigv4::http_request::{
    sign as sigv4_sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
    SignatureLocation, SigningSettings, UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use time::OffsetDateTime;

/// How far a request's `X-Amz-Date` may be from the server's clock.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);
/// The longest validity a presigned request may ask for (AWS: 7 days).
const MAX_PRESIGN_EXPIRES_SECS: u64 = 7 * 24 * 3600;
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const AMZ_DATE: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");

/// An access key: its public id and its secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .finish()
    }
}

/// Who signed a request, as far as its signature tells. Verified requests carry it as a request
/// extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub access_key_id: String,
    pub region: String,
    pub service: String,
}

/// A refused request: 403 with AWS's error type in `x-amzn-ErrorType` (REST-JSON clients read it
/// there) and in the body's `__type` (JSON 1.1 clients such as the Logs and EventBridge APIs read
/// it there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthError {
    pub code: &'static str,
    pub message: String,
}

impl AuthError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn missing() -> Self {
        Self::new(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        )
    }

    fn unrecognized() -> Self {
        Self::new(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
    }

    fn incomplete(message: impl Into<String>) -> Self {
        Self::new("IncompleteSignatureException", message)
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new("InvalidSignatureException", message)
    }

    /// Whether the signature was refused only because its time is over.
    pub fn is_expired(&self) -> bool {
        self.message.starts_with("Signature expired")
    }

    fn mismatch() -> Self {
        Self::invalid(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        )
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "__type": self.code, "message": self.message });
        let mut resp = (
            StatusCode::FORBIDDEN,
            [("content-type", "application/json")],
            body.to_string(),
        )
            .into_response();
        let h = resp.headers_mut();
        h.insert("x-amzn-errortype", HeaderValue::from_static(self.code));
        if let Ok(id) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
            h.insert("x-amzn-requestid", id);
        }
        resp
    }
}

/// The access keys Kumo accepts. Cheap to clone.
#[derive(Clone, Default)]
pub struct KeyRing {
    secrets: Arc<HashMap<String, String>>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.secrets.keys()).finish()
    }
}

/// The parts of a signature as the caller presented them.
#[derive(Debug)]
struct Presented {
    access_key_id: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: String,
    time: OffsetDateTime,
    /// `Some(seconds)` for the presigned (query) form.
    expires: Option<u64>,
}

/// A request whose signature passed every check that needs no body.
#[derive(Debug)]
pub struct Prechecked {
    presented: Presented,
    secret: String,
}

impl KeyRing {
    pub fn new(credentials: impl IntoIterator<Item = Credentials>) -> Self {
        let secrets = credentials
            .into_iter()
            .map(|c| (c.access_key_id, c.secret_access_key))
            .collect();
        Self {
            secrets: Arc::new(secrets),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// Parses the signature (header or query form), and checks the access key and the time
    /// window. Reads no body.
    pub fn precheck(&self, parts: &Parts, now: SystemTime) -> Result<Prechecked, AuthError> {
        let presented = match parts.headers.get("authorization") {
            Some(value) => from_header(value, parts)?,
            None => match parts.uri.query().filter(|q| is_presigned(q)) {
                Some(query) => from_query(query)?,
                None => return Err(AuthError::missing()),
            },
        };
        let secret = self
            .secrets
            .get(&presented.access_key_id)
            .ok_or_else(AuthError::unrecognized)?
            .clone();
        if !presented.signed_headers.iter().any(|h| h == "host") {
            return Err(AuthError::invalid(
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
            ));
        }
        check_time(&presented, OffsetDateTime::from(now))?;
        Ok(Prechecked { presented, secret })
    }
}

impl Prechecked {
    /// The service the caller signed for (`lambda`, `logs`, `events`...).
    pub fn service(&self) -> &str {
        &self.presented.service
    }

    /// Recomputes the signature over the request as received and compares.
    pub fn verify(self, parts: &Parts, body: &[u8]) -> Result<Caller, AuthError> {
        self.verify_hash(parts, &hex_sha256(body))
    }

    /// The payload hash the caller declared in a *signed* `x-amz-content-sha256` header, when it
    /// is a real SHA-256 (not `UNSIGNED-PAYLOAD` or a streaming marker): the signature can then be
    /// checked before the body is read, and the body checked against the hash afterwards.
    pub fn signed_payload_hash(&self, parts: &Parts) -> Option<String> {
        if !self
            .presented
            .signed_headers
            .iter()
            .any(|h| h == "x-amz-content-sha256")
        {
            return None;
        }
        let value = parts.headers.get("x-amz-content-sha256")?.to_str().ok()?;
        let is_sha256 = value.len() == 64
            && value
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        is_sha256.then(|| value.to_owned())
    }

    /// [`Prechecked::verify`] for a body known only by its SHA-256 (lowercase hex).
    pub fn verify_hash(self, parts: &Parts, body_hash: &str) -> Result<Caller, AuthError> {
        let p = &self.presented;
        let body_hash = body_hash.to_owned();
        if let Some(declared) = parts.headers.get("x-amz-content-sha256") {
            if declared.as_bytes() != body_hash.as_bytes() {
                return Err(payload_hash_mismatch());
            }
        }
        let mut headers: Vec<(&str, &str)> = Vec::new();
        for name in &p.signed_headers {
            for value in parts.headers.get_all(name.as_str()) {
                let value = value.to_str().map_err(|_| AuthError::mismatch())?;
                headers.push((name.as_str(), value));
            }
        }
        // The signed `host` header stands for the authority; the URI only needs to parse.
        let mut uri = format!("http://localhost{}", parts.uri.path());
        let query = match (p.expires, parts.uri.query()) {
            (_, None) => String::new(),
            (None, Some(q)) => q.to_owned(),
            (Some(_), Some(q)) => without_presign_params(q),
        };
        if !query.is_empty() {
            uri.push('?');
            uri.push_str(&query);
        }
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Double;
        settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Enabled;
        // Only the headers the caller signed are passed in, and every one of them counts.
        settings.excluded_headers = None;
        if let Some(expires) = p.expires {
            settings.signature_location = SignatureLocation::QueryParams;
            settings.expires_in = Some(Duration::from_secs(expires));
        }
        let identity = aws_credential_types::Credentials::new(
            p.access_key_id.clone(),
            self.secret.clone(),
            None,
            None,
            "kumo",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&p.region)
            .name(&p.service)
            .time(SystemTime::from(p.time))
            .settings(settings)
            .build()
            .map_err(|_| AuthError::mismatch())?
            .into();
        let request = SignableRequest::new(
            parts.method.as_str(),
            uri,
            headers.into_iter(),
            SignableBody::Precomputed(body_hash),
        )
        .map_err(|_| AuthError::mismatch())?;
        let expected = sigv4_sign(request, &params).map_err(|_| AuthError::mismatch())?;
        if !constant_time_eq(expected.signature().as_bytes(), p.signature.as_bytes()) {
            return Err(AuthError::mismatch());
        }
        Ok(Caller {
            access_key_id: p.access_key_id.clone(),
            region: p.region.clone(),
            service: p.service.clone(),
        })
    }
}

/// The body did not hash to the `x-amz-content-sha256` the caller declared.
pub fn payload_hash_mismatch() -> AuthError {
    AuthError::invalid(
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
    )
}

/// SHA-256, lowercase hex, as SigV4 writes payload hashes.
pub fn hex_sha256(data: &[u8]) -> String {
    format!("{:x}", Sha256::digest(data))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn fmt_amz(t: OffsetDateTime) -> String {
    t.format(AMZ_DATE).unwrap_or_default()
}

fn parse_amz_date(s: &str) -> Result<OffsetDateTime, AuthError> {
    time::PrimitiveDateTime::parse(s, AMZ_DATE)
        .map(time::PrimitiveDateTime::assume_utc)
        .map_err(|_| {
            AuthError::incomplete(format!(
                "Date must be in ISO-8601 'basic format'. Got '{s}'. See http://en.wikipedia.org/wiki/ISO_8601"
            ))
        })
}

/// `AKID/20240101/us-east-1/lambda/aws4_request` → (key, date, region, service).
fn parse_credential(credential: &str) -> Result<(String, String, String, String), AuthError> {
    let parts: Vec<&str> = credential.split('/').collect();
    match parts.as_slice() {
        [key, date, region, service, "aws4_request"]
            if !key.is_empty() && date.len() == 8 && !region.is_empty() && !service.is_empty() =>
        {
            Ok((
                (*key).to_owned(),
                (*date).to_owned(),
                (*region).to_owned(),
                (*service).to_owned(),
            ))
        }
        [.., last] if parts.len() == 5 => Err(AuthError::incomplete(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{last}'."
        ))),
        _ => Err(AuthError::incomplete(format!(
            "Credential should be scoped to a valid date, region and service: '{credential}' is not of the form <key>/<yyyymmdd>/<region>/<service>/aws4_request."
        ))),
    }
}

fn parse_signed_headers(list: &str) -> Result<Vec<String>, AuthError> {
    let names: Vec<String> = list.split(';').map(str::to_ascii_lowercase).collect();
    if names.iter().any(String::is_empty) {
        return Err(AuthError::incomplete(format!(
            "SignedHeaders '{list}' is not a ';'-separated list of header names."
        )));
    }
    Ok(names)
}

fn check_signature_shape(signature: &str) -> Result<(), AuthError> {
    let ok = signature.len() == 64
        && signature
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Ok(())
    } else {
        Err(AuthError::mismatch())
    }
}

fn assemble(
    credential: &str,
    signed_headers: &str,
    signature: &str,
    amz_date: &str,
    expires: Option<u64>,
) -> Result<Presented, AuthError> {
    let (access_key_id, scope_date, region, service) = parse_credential(credential)?;
    let time = parse_amz_date(amz_date)?;
    if !amz_date.starts_with(&scope_date) {
        return Err(AuthError::invalid(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{scope_date}' != '{}', from '{amz_date}'.",
            amz_date.get(..8).unwrap_or(amz_date)
        )));
    }
    check_signature_shape(signature)?;
    Ok(Presented {
        access_key_id,
        region,
        service,
        signed_headers: parse_signed_headers(signed_headers)?,
        signature: signature.to_owned(),
        time,
        expires,
    })
}

fn from_header(value: &HeaderValue, parts: &Parts) -> Result<Presented, AuthError> {
    let value = value
        .to_str()
        .map_err(|_| AuthError::incomplete("The Authorization header is not valid ASCII."))?;
    let rest = match value.split_once(' ') {
        Some((ALGORITHM, rest)) => rest,
        _ => {
            return Err(AuthError::incomplete(format!(
                "Unsupported Authorization scheme; Kumo accepts only {ALGORITHM} (AWS Signature Version 4)."
            )))
        }
    };
    let mut fields: HashMap<&str, &str> = HashMap::new();
    for item in rest.split(',') {
        if let Some((k, v)) = item.trim().split_once('=') {
            fields.insert(k.trim(), v.trim());
        }
    }
    let mut missing = Vec::new();
    for name in ["Credential", "SignedHeaders", "Signature"] {
        if !fields.contains_key(name) {
            missing.push(format!("Authorization header requires '{name}' parameter."));
        }
    }
    let amz_date = parts
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok());
    if amz_date.is_none() {
        missing.push(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
                .to_owned(),
        );
    }
    let (Some(credential), Some(signed), Some(signature), Some(amz_date), true) = (
        fields.get("Credential"),
        fields.get("SignedHeaders"),
        fields.get("Signature"),
        amz_date,
        missing.is_empty(),
    ) else {
        return Err(AuthError::incomplete(format!(
            "{} Authorization={value}",
            missing.join(" ")
        )));
    };
    assemble(credential, signed, signature, amz_date, None)
}

const PRESIGN_PARAMS: [&str; 6] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
];

/// Query pairs, percent-decoded.
fn query_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (
            percent_decode_str(k).decode_utf8_lossy().into_owned(),
            percent_decode_str(v).decode_utf8_lossy().into_owned(),
        )
    })
}

fn is_presigned(query: &str) -> bool {
    query_pairs(query).any(|(k, _)| k == "X-Amz-Signature" || k == "X-Amz-Credential")
}

/// The raw query without the presigning parameters (which the signer adds back itself).
fn without_presign_params(query: &str) -> String {
    query
        .split('&')
        .filter(|pair| {
            let key = pair.split_once('=').map_or(*pair, |(k, _)| k);
            let key = percent_decode_str(key).decode_utf8_lossy();
            !pair.is_empty() && !PRESIGN_PARAMS.contains(&key.as_ref())
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn from_query(query: &str) -> Result<Presented, AuthError> {
    let params: HashMap<String, String> = query_pairs(query).collect();
    let get = |k: &str| params.get(k).map(String::as_str);
    let (
        Some(algorithm),
        Some(credential),
        Some(signed),
        Some(signature),
        Some(amz_date),
        Some(expires),
    ) = (
        get("X-Amz-Algorithm"),
        get("X-Amz-Credential"),
        get("X-Amz-SignedHeaders"),
        get("X-Amz-Signature"),
        get("X-Amz-Date"),
        get("X-Amz-Expires"),
    )
    else {
        return Err(AuthError::incomplete(
            "AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders', 'X-Amz-Expires'. Re-examine the query-string parameters.",
        ));
    };
    if algorithm != ALGORITHM {
        return Err(AuthError::incomplete(format!(
            "X-Amz-Algorithm only supports '{ALGORITHM}'"
        )));
    }
    let expires = expires
        .parse::<u64>()
        .ok()
        .filter(|e| (1..=MAX_PRESIGN_EXPIRES_SECS).contains(e))
        .ok_or_else(|| {
            AuthError::incomplete(format!(
                "X-Amz-Expires must be a whole number of seconds between 1 and {MAX_PRESIGN_EXPIRES_SECS}"
            ))
        })?;
    assemble(credential, signed, signature, amz_date, Some(expires))
}

fn check_time(p: &Presented, now: OffsetDateTime) -> Result<(), AuthError> {
    let skew = time::Duration::try_from(MAX_CLOCK_SKEW).unwrap_or(time::Duration::MINUTE * 15);
    let minutes = MAX_CLOCK_SKEW.as_secs() / 60;
    if p.time > now + skew {
        return Err(AuthError::invalid(format!(
            "Signature not yet current: {} is still later than {} ({} + {minutes} min.)",
            fmt_amz(p.time),
            fmt_amz(now + skew),
            fmt_amz(now)
        )));
    }
    match p.expires {
        None if p.time < now - skew => Err(AuthError::invalid(format!(
            "Signature expired: {} is now earlier than {} ({} - {minutes} min.)",
            fmt_amz(p.time),
            fmt_amz(now - skew),
            fmt_amz(now)
        ))),
        Some(secs) => {
            let until = p.time + time::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX));
            if now > until {
                Err(AuthError::invalid(format!(
                    "Signature expired: the presigned request was valid until {} and it is now {}",
                    fmt_amz(until),
                    fmt_amz(now)
                )))
            } else {
                Ok(())
            }
        }
        None => Ok(()),
    }
}

/// A request to sign: what the `kumo` CLI is about to send.
pub struct ToSign<'a> {
    pub method: &'a str,
    /// The full URL as it will be sent (scheme, authority, percent-encoded path and query).
    pub url: &'a str,
    /// Headers already on the request; `host` is taken from the URL when absent.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// Signs a request in the header form, as the AWS SDKs do; returns the headers to add
/// (`authorization`, `x-amz-date`).
pub fn sign(
    req: &ToSign<'_>,
    credentials: &Credentials,
    region: &str,
    service: &str,
    now: SystemTime,
) -> Result<Vec<(String, String)>, String> {
    let identity = aws_credential_types::Credentials::new(
        credentials.access_key_id.clone(),
        credentials.secret_access_key.clone(),
        None,
        None,
        "kumo",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let request = SignableRequest::new(
        req.method,
        req.url,
        req.headers.iter().copied(),
        SignableBody::Bytes(req.body),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _signature) = sigv4_sign(request, &params)
        .map_err(|e| e.to_string())?
        .into_parts();
    let (headers, _params) = instructions.into_parts();
    Ok(headers
        .into_iter()
        .map(|h| (h.name().to_owned(), h.value().to_owned()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn keys() -> KeyRing {
        KeyRing::new([Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        }])
    }

    fn at(amz: &str) -> SystemTime {
        SystemTime::from(parse_amz_date(amz).expect("valid date"))
    }

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut b = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).expect("request").into_parts().0
    }

    fn check(p: &Parts, body: &[u8], now: SystemTime) -> Result<Caller, AuthError> {
        keys().precheck(p, now)?.verify(p, body)
    }

    /// `get-vanilla` from AWS's published SigV4 test suite: an independent known answer.
    #[test]
    fn accepts_the_aws_test_suite_get_vanilla_request() {
        let p = parts(
            "GET",
            "/",
            &[
                ("host", "example.amazonaws.com"),
                ("x-amz-date", "20150830T123600Z"),
                ("authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
            ],
        );
        let caller = check(&p, b"", at("20150830T123600Z")).expect("valid signature");
        assert_eq!(caller.service, "service");
        assert_eq!(caller.region, "us-east-1");
        assert_eq!(caller.access_key_id, "AKIDEXAMPLE");
    }

    fn signed(method: &str, url_path: &str, body: &[u8], secret: &str, now: SystemTime) -> Parts {
        let creds = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: secret.into(),
        };
        let url = format!("http://127.0.0.1:9900{url_path}");
        let extra = [("content-type", "application/json")];
        let added = sign(
            &ToSign {
                method,
                url: &url,
                headers: &extra,
                body,
            },
            &creds,
            "eu-west-3",
            "lambda",
            now,
        )
        .expect("sign");
        let mut headers: Vec<(&str, &str)> = vec![
            ("host", "127.0.0.1:9900"),
            ("content-type", "application/json"),
            ("user-agent", "not signed"),
        ];
        headers.extend(added.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        parts(method, url_path, &headers)
    }

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    #[test]
    fn a_signed_request_verifies_and_a_tampered_one_does_not() {
        let now = at("20240102T030405Z");
        let path = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af/invocations?Qualifier=%24LATEST";
        let p = signed("POST", path, b"{\"a\":1}", SECRET, now);
        let caller = check(&p, b"{\"a\":1}", now).expect("valid");
        assert_eq!(caller.region, "eu-west-3");
        assert_eq!(check(&p, b"{\"a\":2}", now), Err(AuthError::mismatch()));
        let wrong = signed("POST", path, b"{}", "not-the-secret", now);
        assert_eq!(check(&wrong, b"{}", now), Err(AuthError::mismatch()));
    }

    #[test]
    fn unknown_keys_missing_signatures_and_stale_dates_are_refused() {
        let now = at("20240102T030405Z");
        let p = signed("GET", "/2015-03-31/functions", b"", SECRET, now);
        let later = now + MAX_CLOCK_SKEW + Duration::from_secs(1);
        let err = check(&p, b"", later).expect_err("expired");
        assert_eq!(err.code, "InvalidSignatureException");
        assert!(
            err.message.starts_with("Signature expired"),
            "{}",
            err.message
        );
        let earlier = now - MAX_CLOCK_SKEW - Duration::from_secs(1);
        let err = check(&p, b"", earlier).expect_err("not yet current");
        assert!(
            err.message.starts_with("Signature not yet current"),
            "{}",
            err.message
        );
        assert!(check(&p, b"", now - MAX_CLOCK_SKEW).is_ok());

        let unsigned = parts("GET", "/2015-03-31/functions", &[("host", "h")]);
        assert_eq!(check(&unsigned, b"", now), Err(AuthError::missing()));

        let stranger = KeyRing::new([Credentials {
            access_key_id: "OTHER".into(),
            secret_access_key: SECRET.into(),
        }]);
        let err = stranger.precheck(&p, now).expect_err("unknown key");
        assert_eq!(err.code, "UnrecognizedClientException");
    }

    #[test]
    fn malformed_authorization_headers_are_incomplete_signatures() {
        let now = at("20240102T030405Z");
        for auth in [
            "Bearer abc",
            "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/us-east-1/lambda/aws5_request, SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000",
        ] {
            let p = parts(
                "GET",
                "/",
                &[("host", "h"), ("x-amz-date", "20240102T030405Z"), ("authorization", auth)],
            );
            let err = check(&p, b"", now).expect_err("malformed");
            assert_eq!(err.code, "IncompleteSignatureException", "{auth}: {err:?}");
        }
    }

    #[test]
    fn presigned_requests_verify_until_they_expire() {
        // Built with the same signer in query mode, as botocore's presigner does.
        let now = at("20240102T030405Z");
        let identity =
            aws_credential_types::Credentials::new("AKIDEXAMPLE", SECRET, None, None, "test")
                .into();
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(60));
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("lambda")
            .time(now)
            .settings(settings)
            .build()
            .expect("params")
            .into();
        let url = "http://127.0.0.1:9900/2015-03-31/functions?MaxItems=5";
        let request = SignableRequest::new(
            "GET",
            url,
            [("host", "127.0.0.1:9900")].into_iter(),
            SignableBody::Bytes(b""),
        )
        .expect("signable");
        let (instructions, _) = sigv4_sign(request, &params).expect("sign").into_parts();
        let query: Vec<String> = instructions
            .params()
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
                )
            })
            .collect();
        let uri = format!("/2015-03-31/functions?MaxItems=5&{}", query.join("&"));
        let p = parts("GET", &uri, &[("host", "127.0.0.1:9900")]);
        let caller = check(&p, b"", now + Duration::from_secs(59)).expect("valid presigned");
        assert_eq!(caller.service, "lambda");
        let err = check(&p, b"", now + Duration::from_secs(61)).expect_err("expired");
        assert!(
            err.message.contains("presigned request was valid until"),
            "{err:?}"
        );
        let tampered = parts(
            "GET",
            &uri.replace("MaxItems=5", "MaxItems=6"),
            &[("host", "127.0.0.1:9900")],
        );
        assert_eq!(check(&tampered, b"", now), Err(AuthError::mismatch()));
    }

    #[test]
    fn a_declared_payload_hash_must_match_the_body() {
        let now = at("20240102T030405Z");
        let mut p = signed("POST", "/", b"{}", SECRET, now);
        p.headers.insert(
            "x-amz-content-sha256",
            HeaderValue::from_static("UNSIGNED-PAYLOAD"),
        );
        let err = check(&p, b"{}", now).expect_err("hash mismatch");
        assert!(err.message.contains("x-amz-content-sha256"), "{err:?}");
    }

    #[test]
    fn constant_time_eq_compares_whole_slices() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
