//! Request paths the front door refuses before anything else looks at them.
//!
//! The SigV4 check computes its canonical request over the path with dot segments removed and
//! `//` collapsed (as AWS's signers do), while the router matches the path as sent. A path with
//! `.` or `..` segments or empty segments would then be signed as one path and routed as
//! another, so such paths are refused outright (400), in their percent-encoded forms too
//! (`%2e%2e`, `..%2f`). With them gone, normalisation changes nothing and the signature, the
//! router and the handlers all see the same path.

use crate::error::ApiError;
use percent_encoding::percent_decode_str;

/// Why a path was refused, if it was.
pub fn check(path: &str) -> Result<(), ApiError> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(refuse(path, "must start with '/'"));
    };
    if rest.is_empty() {
        return Ok(());
    }
    let segments: Vec<&str> = rest.split('/').collect();
    let last = segments.len() - 1;
    for (i, raw) in segments.iter().enumerate() {
        // A trailing slash (`/2015-03-31/functions/`) is the only empty segment allowed.
        if raw.is_empty() && i != last {
            return Err(refuse(path, "must not contain empty segments ('//')"));
        }
        let decoded = percent_decode_str(raw).decode_utf8_lossy();
        // `..%2f..` decodes to `../..`: look at every piece an encoded slash makes.
        for piece in decoded.split(['/', '\\']) {
            if piece == "." || piece == ".." {
                return Err(refuse(path, "must not contain '.' or '..' segments"));
            }
        }
        if decoded.contains("//") || (decoded.starts_with('/') && !raw.is_empty()) {
            return Err(refuse(path, "must not contain empty segments ('//')"));
        }
    }
    Ok(())
}

fn refuse(path: &str, why: &str) -> ApiError {
    let shown: String = path.chars().take(200).collect();
    ApiError::validation(format!("The request path {shown:?} {why}"))
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn ordinary_api_paths_pass() {
        for p in [
            "/",
            "/2015-03-31/functions",
            "/2015-03-31/functions/",
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af/invocations",
            "/urls/0123456789abcdef0123456789abcdef/a.b/c..d/.hidden",
            "/kumo/code/abc.zip",
        ] {
            assert!(check(p).is_ok(), "{p}");
        }
    }

    #[test]
    fn dot_segments_and_empty_segments_are_refused_in_every_spelling() {
        for p in [
            "/2015-03-31/functions/../functions",
            "/2015-03-31/./functions",
            "/2015-03-31/functions/..",
            "//2015-03-31/functions",
            "/2015-03-31//functions",
            "/2015-03-31/functions/%2e%2e/functions",
            "/2015-03-31/functions/%2E%2e",
            "/2015-03-31/functions/.%2E/x",
            "/2015-03-31/%2e/functions",
            "/2015-03-31/functions/..%2f..%2fkumo",
            "/2015-03-31/functions/x%2F%2Fy",
            "/2015-03-31/functions/..%5c",
            "relative",
        ] {
            let err = check(p).expect_err(p);
            assert_eq!(err.status, 400, "{p}");
            assert_eq!(err.code, "ValidationException", "{p}");
        }
    }
}
