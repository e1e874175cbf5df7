//! Function URL requests and responses, without I/O: the payload format 2.0 event a request
//! becomes, Lambda's mapping of a function result to an HTTP response, and CORS.

use crate::sigv4::Caller;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};
use base64::Engine as _;
use kumo_types::Cors;
use percent_encoding::percent_decode_str;
use serde_json::{json, Map, Value};

/// What the event is built from.
pub(crate) struct UrlRequest<'a> {
    pub url_id: &'a str,
    pub region: &'a str,
    pub account_id: &'a str,
    pub method: &'a Method,
    pub version: Version,
    /// The path inside the function URL, percent-encoding preserved (`/` at least).
    pub raw_path: &'a str,
    /// The query without `?`, as sent (empty when none).
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    pub source_ip: &'a str,
    pub body: &'a [u8],
    pub request_id: &'a str,
    pub now: time::OffsetDateTime,
    /// The verified signer, for `AWS_IAM` URLs.
    pub caller: Option<&'a Caller>,
}

const EVENT_TIME: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
    "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
);

/// Decodes a query component: `+` is a space, then percent-decoding (lossy UTF-8).
fn decode_component(s: &str) -> String {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// Whether a body of this content type travels as text; everything else is base64-encoded. As in
/// Lambda, only `text/*` and JSON are text.
fn is_text_content_type(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return false };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    (!values.is_empty()).then(|| values.join(","))
}

/// The payload format 2.0 event of a function URL request.
pub(crate) fn event(r: &UrlRequest<'_>) -> Value {
    let mut headers = Map::new();
    for name in r.headers.keys() {
        if name == "cookie" {
            continue;
        }
        if let Some(v) = header_str(r.headers, name.as_str()) {
            headers.insert(name.as_str().to_owned(), v.into());
        }
    }
    let forwarded_for = match header_str(r.headers, "x-forwarded-for") {
        Some(prior) => format!("{prior}, {}", r.source_ip),
        None => r.source_ip.to_owned(),
    };
    headers.insert("x-forwarded-for".into(), forwarded_for.into());
    headers.insert("x-forwarded-proto".into(), "http".into());
    let port = header_str(r.headers, "host")
        .and_then(|h| {
            h.rsplit_once(':')
                .map(|(_, p)| p.to_owned())
                .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .unwrap_or_else(|| "80".into());
    headers.insert("x-forwarded-port".into(), port.into());

    let cookies: Vec<Value> = r
        .headers
        .get_all("cookie")
        .iter()
        .flat_map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split(';')
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty())
                .collect::<Vec<_>>()
        })
        .map(Value::String)
        .collect();

    let mut query = Map::new();
    for pair in r.raw_query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (decode_component(k), decode_component(v));
        match query.get_mut(&k) {
            Some(Value::String(prev)) => {
                prev.push(',');
                prev.push_str(&v);
            }
            _ => {
                query.insert(k, v.into());
            }
        }
    }

    let domain = format!("{}.lambda-url.{}.localhost", r.url_id, r.region);
    let user_agent = header_str(r.headers, "user-agent").unwrap_or_default();
    let protocol = match r.version {
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        _ => "HTTP/1.1",
    };
    let time_epoch = i64::try_from(r.now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let authorizer = match r.caller {
        Some(c) => json!({ "iam": {
            "accessKey": c.access_key_id,
            "accountId": r.account_id,
            "callerId": c.access_key_id,
            "cognitoIdentity": null,
            "principalOrgId": null,
            "userArn": format!("arn:aws:iam::{}:user/{}", r.account_id, c.access_key_id),
            "userId": c.access_key_id,
        }}),
        None => Value::Null,
    };
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": r.raw_path,
        "rawQueryString": r.raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": r.account_id,
            "apiId": r.url_id,
            "authentication": null,
            "authorizer": authorizer,
            "domainName": domain,
            "domainPrefix": r.url_id,
            "http": {
                "method": r.method.as_str(),
                "path": percent_decode_str(r.raw_path).decode_utf8_lossy(),
                "protocol": protocol,
                "sourceIp": r.source_ip,
                "userAgent": user_agent,
            },
            "requestId": r.request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": r.now.format(EVENT_TIME).unwrap_or_default(),
            "timeEpoch": time_epoch,
        },
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        event["cookies"] = Value::Array(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !r.body.is_empty() {
        let content_type = header_str(r.headers, "content-type");
        match std::str::from_utf8(r.body) {
            Ok(text) if is_text_content_type(content_type.as_deref()) => {
                event["body"] = text.into();
            }
            _ => {
                event["body"] = base64::engine::general_purpose::STANDARD
                    .encode(r.body)
                    .into();
                event["isBase64Encoded"] = true.into();
            }
        }
    }
    event
}

/// The HTTP response a function result maps to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct HttpReply {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Vec<u8>,
}

/// Response headers that describe the connection or the framing, which Kumo owns.
const FRAMING_HEADERS: [&str; 4] = [
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
];

fn json_reply(body: &[u8]) -> HttpReply {
    HttpReply {
        status: StatusCode::OK,
        headers: vec![(
            HeaderName::from_static("content-type"),
            HeaderValue::from_static("application/json"),
        )],
        body: body.to_vec(),
    }
}

/// Lambda's rules: a JSON object with `statusCode` describes the response (`headers`, `cookies`,
/// `body`, `isBase64Encoded`); any other JSON value is a 200 `application/json` body, verbatim.
/// `Err` (an unusable result) becomes a 502.
pub(crate) fn map_result(payload: &[u8]) -> Result<HttpReply, String> {
    let value: Value = serde_json::from_slice(payload)
        .map_err(|e| format!("the function result is not JSON: {e}"))?;
    let Value::Object(obj) = &value else {
        return Ok(json_reply(payload));
    };
    let Some(status) = obj.get("statusCode") else {
        return Ok(json_reply(payload));
    };
    let status = match status {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .and_then(|n| u16::try_from(n).ok())
    .filter(|n| (200..=599).contains(n))
    .and_then(|n| StatusCode::from_u16(n).ok())
    .ok_or_else(|| format!("invalid statusCode {status}"))?;

    let mut headers = Vec::new();
    match obj.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (k, v) in map {
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    Value::Null => continue,
                    other => return Err(format!("header {k} has a non-scalar value {other}")),
                };
                let name = HeaderName::from_bytes(k.as_bytes())
                    .map_err(|_| format!("invalid header name {k:?}"))?;
                if FRAMING_HEADERS.contains(&name.as_str()) {
                    continue;
                }
                let value = HeaderValue::from_str(&v)
                    .map_err(|_| format!("invalid value for header {k}"))?;
                headers.push((name, value));
            }
        }
        Some(other) => return Err(format!("headers must be an object, not {other}")),
    }
    if !headers.iter().any(|(n, _)| n == "content-type") {
        headers.push((
            HeaderName::from_static("content-type"),
            HeaderValue::from_static("application/json"),
        ));
    }
    match obj.get("cookies") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for c in items {
                let c = c
                    .as_str()
                    .ok_or_else(|| format!("cookies must be strings, not {c}"))?;
                let value =
                    HeaderValue::from_str(c).map_err(|_| format!("invalid cookie {c:?}"))?;
                headers.push((HeaderName::from_static("set-cookie"), value));
            }
        }
        Some(other) => return Err(format!("cookies must be an array, not {other}")),
    }
    let body = match obj.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(other) => other.to_string().into_bytes(),
    };
    let body = if obj.get("isBase64Encoded") == Some(&Value::Bool(true)) {
        base64::engine::general_purpose::STANDARD
            .decode(&body)
            .map_err(|e| format!("body is not valid base64: {e}"))?
    } else {
        body
    };
    Ok(HttpReply {
        status,
        headers,
        body,
    })
}

/// Whether a request is a CORS preflight.
pub(crate) fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS
        && headers.contains_key("origin")
        && headers.contains_key("access-control-request-method")
}

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(HeaderName::from_static(name), v);
    }
}

/// Adds the CORS headers of `cors` to a response for a request from `request_headers`' origin,
/// replacing any the function set. `preflight` adds the headers only preflight answers carry.
pub(crate) fn apply_cors(
    cors: &Cors,
    request_headers: &HeaderMap,
    response_headers: &mut HeaderMap,
    preflight: bool,
) {
    let Some(origin) = request_headers.get("origin").and_then(|o| o.to_str().ok()) else {
        return;
    };
    let stale: Vec<HeaderName> = response_headers
        .keys()
        .filter(|k| k.as_str().starts_with("access-control-"))
        .cloned()
        .collect();
    for k in stale {
        response_headers.remove(k);
    }
    let Some(allowed) = cors.allowed_origin(origin) else {
        return;
    };
    set(response_headers, "access-control-allow-origin", allowed);
    if allowed != "*" {
        response_headers.append("vary", HeaderValue::from_static("Origin"));
    }
    if cors.allow_credentials == Some(true) {
        set(response_headers, "access-control-allow-credentials", "true");
    }
    if preflight {
        if let Some(m) = cors.allow_methods.as_ref().filter(|m| !m.is_empty()) {
            set(
                response_headers,
                "access-control-allow-methods",
                &m.join(","),
            );
        }
        if let Some(h) = cors.allow_headers.as_ref().filter(|h| !h.is_empty()) {
            set(
                response_headers,
                "access-control-allow-headers",
                &h.join(","),
            );
        }
        if let Some(age) = cors.max_age {
            set(response_headers, "access-control-max-age", &age.to_string());
        }
    } else if let Some(h) = cors.expose_headers.as_ref().filter(|h| !h.is_empty()) {
        set(
            response_headers,
            "access-control-expose-headers",
            &h.join(","),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<'a>(
        headers: &'a HeaderMap,
        raw_path: &'a str,
        raw_query: &'a str,
        body: &'a [u8],
    ) -> UrlRequest<'a> {
        UrlRequest {
            url_id: "0123456789abcdef0123456789abcdef",
            region: "us-east-1",
            account_id: "123456789012",
            method: &Method::POST,
            version: Version::HTTP_11,
            raw_path,
            raw_query,
            headers,
            source_ip: "10.1.2.3",
            body,
            request_id: "req-1",
            now: time::macros::datetime!(2020-03-12 19:03:58.390 UTC),
            caller: None,
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        h
    }

    #[test]
    fn event_follows_payload_format_2() {
        let h = headers(&[
            ("host", "x.lambda-url.us-east-1.localhost:9900"),
            ("user-agent", "curl/8"),
            ("x-multi", "a"),
            ("x-multi", "b"),
            ("cookie", "c1=v1; c2=v2"),
            ("content-type", "application/json"),
        ]);
        let e = event(&request(
            &h,
            "/my/p%20ath",
            "a=1&a=2&b=x%2By+z&flag",
            b"{\"k\":1}",
        ));
        assert_eq!(e["version"], "2.0");
        assert_eq!(e["routeKey"], "$default");
        assert_eq!(e["rawPath"], "/my/p%20ath");
        assert_eq!(e["rawQueryString"], "a=1&a=2&b=x%2By+z&flag");
        assert_eq!(
            e["queryStringParameters"],
            json!({"a": "1,2", "b": "x+y z", "flag": ""})
        );
        assert_eq!(e["cookies"], json!(["c1=v1", "c2=v2"]));
        assert_eq!(e["headers"]["x-multi"], "a,b");
        assert!(e["headers"].get("cookie").is_none());
        assert_eq!(e["headers"]["x-forwarded-for"], "10.1.2.3");
        assert_eq!(e["headers"]["x-forwarded-port"], "9900");
        let rc = &e["requestContext"];
        assert_eq!(rc["http"]["method"], "POST");
        assert_eq!(rc["http"]["path"], "/my/p ath");
        assert_eq!(rc["http"]["sourceIp"], "10.1.2.3");
        assert_eq!(rc["http"]["userAgent"], "curl/8");
        assert_eq!(rc["http"]["protocol"], "HTTP/1.1");
        assert_eq!(rc["time"], "12/Mar/2020:19:03:58 +0000");
        assert_eq!(rc["timeEpoch"], 1_584_039_838_390_i64);
        assert_eq!(rc["requestId"], "req-1");
        assert_eq!(rc["authorizer"], Value::Null);
        assert_eq!(e["body"], "{\"k\":1}");
        assert_eq!(e["isBase64Encoded"], false);
    }

    #[test]
    fn event_omits_absent_parts_and_base64_encodes_binary_bodies() {
        let h = headers(&[("content-type", "application/octet-stream")]);
        let e = event(&request(&h, "/", "", &[0, 159, 255]));
        assert!(e.get("cookies").is_none());
        assert!(e.get("queryStringParameters").is_none());
        assert_eq!(e["body"], "AJ//");
        assert_eq!(e["isBase64Encoded"], true);
        let form = headers(&[("content-type", "application/x-www-form-urlencoded")]);
        let e = event(&request(&form, "/", "", b"a=1"));
        assert_eq!(e["isBase64Encoded"], true);
        let empty = event(&request(&HeaderMap::new(), "/", "", b""));
        assert!(empty.get("body").is_none());
        assert_eq!(empty["isBase64Encoded"], false);
    }

    #[test]
    fn results_without_status_code_are_json_bodies() {
        for payload in [
            &b"\"Hello, world!\""[..],
            b"{\"message\":\"hi\"}",
            b"[1,2]",
            b"42",
            b"null",
        ] {
            let r = map_result(payload).expect("mapped");
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.body, payload);
            assert_eq!(r.headers[0].1, "application/json");
        }
    }

    #[test]
    fn structured_results_set_status_headers_cookies_and_body() {
        let r = map_result(
            br#"{"statusCode":201,"headers":{"X-Custom":"v","X-Num":5,"Content-Length":"999"},"cookies":["a=1; Max-Age=5","b=2"],"body":"created"}"#,
        )
        .expect("mapped");
        assert_eq!(r.status, StatusCode::CREATED);
        assert_eq!(r.body, b"created");
        let get = |n: &str| -> Vec<&str> {
            r.headers
                .iter()
                .filter(|(k, _)| k == n)
                .filter_map(|(_, v)| v.to_str().ok())
                .collect()
        };
        assert_eq!(get("x-custom"), ["v"]);
        assert_eq!(get("x-num"), ["5"]);
        assert_eq!(get("content-type"), ["application/json"]);
        assert_eq!(get("set-cookie"), ["a=1; Max-Age=5", "b=2"]);
        assert!(get("content-length").is_empty());
    }

    #[test]
    fn base64_bodies_are_decoded_and_bad_results_are_refused() {
        let r = map_result(br#"{"statusCode":200,"body":"AJ//","isBase64Encoded":true,"headers":{"content-type":"image/png"}}"#)
            .expect("mapped");
        assert_eq!(r.body, [0, 159, 255]);
        assert!(map_result(b"not json").is_err());
        assert!(map_result(br#"{"statusCode":"abc"}"#).is_err());
        assert!(map_result(br#"{"statusCode":700}"#).is_err());
        assert!(map_result(br#"{"statusCode":200,"body":"%%%","isBase64Encoded":true}"#).is_err());
        assert!(map_result(br#"{"statusCode":200,"headers":{"x":{"nested":1}}}"#).is_err());
        let r = map_result(br#"{"statusCode":"404"}"#).expect("string status");
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert!(r.body.is_empty());
    }

    #[test]
    fn cors_headers_follow_the_configuration() {
        let cors = Cors {
            allow_origins: Some(vec!["https://app.example".into()]),
            allow_methods: Some(vec!["GET".into(), "POST".into()]),
            allow_headers: Some(vec!["x-token".into()]),
            expose_headers: Some(vec!["x-trace".into()]),
            max_age: Some(600),
            allow_credentials: Some(true),
        };
        let req = headers(&[
            ("origin", "https://app.example"),
            ("access-control-request-method", "POST"),
        ]);
        assert!(is_preflight(&Method::OPTIONS, &req));
        assert!(!is_preflight(&Method::GET, &req));
        let mut pre = HeaderMap::new();
        apply_cors(&cors, &req, &mut pre, true);
        assert_eq!(pre["access-control-allow-origin"], "https://app.example");
        assert_eq!(pre["access-control-allow-methods"], "GET,POST");
        assert_eq!(pre["access-control-allow-headers"], "x-token");
        assert_eq!(pre["access-control-max-age"], "600");
        assert_eq!(pre["access-control-allow-credentials"], "true");
        let mut actual = headers(&[("access-control-allow-origin", "*")]);
        apply_cors(&cors, &req, &mut actual, false);
        assert_eq!(actual["access-control-allow-origin"], "https://app.example");
        assert_eq!(actual["access-control-expose-headers"], "x-trace");
        assert!(actual.get("access-control-max-age").is_none());
        let stranger = headers(&[("origin", "https://evil.example")]);
        let mut denied = headers(&[("access-control-allow-origin", "*")]);
        apply_cors(&cors, &stranger, &mut denied, false);
        assert!(denied.get("access-control-allow-origin").is_none());
    }
}
