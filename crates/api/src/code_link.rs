//! `Code.Location` links: presigned, expiring downloads of a function's code package.
//!
//! Lambda answers GetFunction with an S3 link presigned for ten minutes. Kumo does the same with
//! its own route, `/kumo/code/<sha256>.zip`: the link is a SigV4 presigned URL
//! (`X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`, `X-Amz-SignedHeaders`,
//! `X-Amz-Signature`) made with a key only this server process holds, drawn at random when it
//! starts. A link works with any HTTP client (curl, urllib) until it expires; an expired, altered
//! or unsigned link is refused with 403 and S3's XML error, as S3 refuses Lambda's links. A
//! restart draws a new key, so older links stop working earlier than their expiry, which is no
//! worse than Lambda (whose links are to be used at once).

use crate::sigv4::{AuthError, Credentials, KeyRing};
use aws_sigv4::http_request::{
    sign, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    UriPathNormalizationMode,
};
use aws_sigv4::sign::v4;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::time::{Duration, SystemTime};

/// Lambda's lifetime for `Code.Location`.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(600);
/// The service the links are signed for: they stand in for S3 links.
const SERVICE: &str = "s3";
/// SigV4's unreserved characters stay as they are in query values.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Makes and checks code download links. Cheap to clone.
#[derive(Clone, Debug)]
pub struct CodeLinks {
    credentials: Credentials,
    keys: KeyRing,
    region: String,
    lifetime: Duration,
}

impl CodeLinks {
    /// Links valid for `lifetime`, signed with a key drawn now.
    pub fn new(region: &str, lifetime: Duration) -> Self {
        let credentials = Credentials {
            access_key_id: format!(
                "KUMOCODE{}",
                uuid::Uuid::new_v4().simple().to_string()[..12].to_ascii_uppercase()
            ),
            secret_access_key: format!(
                "{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            ),
        };
        Self {
            keys: KeyRing::new([credentials.clone()]),
            credentials,
            region: region.to_owned(),
            lifetime,
        }
    }

    /// The link to the package `sha256_hex`, for a client that reached this server as `host`.
    pub fn location(&self, host: &str, sha256_hex: &str, now: SystemTime) -> String {
        let path = format!("/kumo/code/{sha256_hex}.zip");
        let url = format!("http://{host}{path}");
        match self.presign(host, &url, now) {
            Ok(query) => format!("{url}?{query}"),
            Err(why) => {
                // Cannot happen with the fixed inputs above; an unsigned link is refused later.
                tracing::error!("presigning a code link failed: {why}");
                url
            }
        }
    }

    fn presign(&self, host: &str, url: &str, now: SystemTime) -> Result<String, String> {
        let identity = aws_credential_types::Credentials::new(
            self.credentials.access_key_id.clone(),
            self.credentials.secret_access_key.clone(),
            None,
            None,
            "kumo-code-link",
        )
        .into();
        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Double;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Enabled;
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(self.lifetime);
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(SERVICE)
            .time(now)
            .settings(settings)
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let request = SignableRequest::new(
            "GET",
            url,
            [("host", host)].into_iter(),
            SignableBody::Bytes(b""),
        )
        .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(request, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        Ok(instructions
            .params()
            .iter()
            .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY_VALUE)))
            .collect::<Vec<_>>()
            .join("&"))
    }

    /// Whether a download request carries a valid, unexpired link signature.
    pub fn check(&self, parts: &Parts, now: SystemTime) -> Result<(), LinkRefused> {
        if parts.uri.query().is_none() || parts.headers.contains_key("authorization") {
            return Err(LinkRefused::Denied);
        }
        let checked = self.keys.precheck(parts, now).map_err(LinkRefused::from)?;
        if checked.service() != SERVICE {
            return Err(LinkRefused::Mismatch);
        }
        checked.verify(parts, b"").map_err(LinkRefused::from)?;
        Ok(())
    }
}

/// Why a code download was refused, in S3's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefused {
    /// No link signature at all, or one from an unknown key.
    Denied,
    Expired,
    /// The link was altered.
    Mismatch,
}

impl From<AuthError> for LinkRefused {
    fn from(e: AuthError) -> Self {
        match e.code {
            "UnrecognizedClientException" | "MissingAuthenticationTokenException" => Self::Denied,
            _ if e.is_expired() => Self::Expired,
            _ => Self::Mismatch,
        }
    }
}

impl IntoResponse for LinkRefused {
    fn into_response(self) -> Response {
        let (code, message) = match self {
            Self::Denied => ("AccessDenied", "Access Denied"),
            Self::Expired => ("AccessDenied", "Request has expired"),
            Self::Mismatch => (
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
            ),
        };
        let request_id = uuid::Uuid::new_v4().simple().to_string();
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
        );
        let mut resp = (
            StatusCode::FORBIDDEN,
            [("content-type", "application/xml")],
            body,
        )
            .into_response();
        let h = resp.headers_mut();
        h.insert("x-amzn-errortype", HeaderValue::from_static(code));
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            h.insert("x-amz-request-id", v);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts_for(link: &str) -> Parts {
        let rest = link.strip_prefix("http://").expect("http link");
        let (host, path) = rest.split_at(rest.find('/').expect("path"));
        Request::builder()
            .uri(path)
            .header("host", host)
            .body(())
            .expect("request")
            .into_parts()
            .0
    }

    const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn a_link_works_until_it_expires() {
        let links = CodeLinks::new("us-east-1", Duration::from_secs(600));
        let now = SystemTime::now();
        let link = links.location("127.0.0.1:9900", SHA, now);
        assert!(link.contains("X-Amz-Expires=600"), "{link}");
        assert!(link.contains("X-Amz-Signature="), "{link}");
        let p = parts_for(&link);
        assert_eq!(links.check(&p, now + Duration::from_secs(599)), Ok(()));
        assert_eq!(
            links.check(&p, now + Duration::from_secs(602)),
            Err(LinkRefused::Expired)
        );
    }

    #[test]
    fn altered_unsigned_and_foreign_links_are_refused() {
        let links = CodeLinks::new("us-east-1", DEFAULT_LIFETIME);
        let now = SystemTime::now();
        let link = links.location("127.0.0.1:9900", SHA, now);
        let other_sha = link.replace("9f86d0", "0f86d0");
        assert_eq!(
            links.check(&parts_for(&other_sha), now),
            Err(LinkRefused::Mismatch)
        );
        let longer = link.replace("X-Amz-Expires=600", "X-Amz-Expires=6000");
        assert_eq!(
            links.check(&parts_for(&longer), now),
            Err(LinkRefused::Mismatch)
        );
        let bare = format!("http://127.0.0.1:9900/kumo/code/{SHA}.zip");
        assert_eq!(
            links.check(&parts_for(&bare), now),
            Err(LinkRefused::Denied)
        );
        let other_server = CodeLinks::new("us-east-1", DEFAULT_LIFETIME);
        assert_eq!(
            other_server.check(&parts_for(&link), now),
            Err(LinkRefused::Denied)
        );
    }
}
