//! Control-plane operations on functions: create, read, list, update, delete, concurrency and
//! account settings.

use crate::error::{ApiError, ApiResult};
use crate::wire::{function_configuration, list_item, mark_creating, mark_updating, qualify};
use crate::{json, AppState};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use kumo_store::StoreError;
use kumo_types::{
    validate_description, validate_environment, validate_ephemeral_storage, validate_handler,
    validate_memory, validate_role, validate_timeout, FunctionConfig, FunctionName, FunctionRef,
    NameKind, Runtime, ValidationError, DEFAULT_EPHEMERAL_MB, DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT_SECS, MIN_UNRESERVED_CONCURRENCY,
};
use serde::Deserialize;
use serde_json::{json as j, Value};
use std::collections::{BTreeMap, HashMap};

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct CodeInput {
    zip_file: Option<String>,
    s3_bucket: Option<String>,
    s3_key: Option<String>,
    image_uri: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EnvironmentInput {
    variables: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EphemeralInput {
    size: i64,
}

/// The members shared by CreateFunction and UpdateFunctionConfiguration.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct ConfigInput {
    runtime: Option<String>,
    role: Option<String>,
    handler: Option<String>,
    description: Option<String>,
    timeout: Option<i64>,
    memory_size: Option<i64>,
    environment: Option<EnvironmentInput>,
    ephemeral_storage: Option<EphemeralInput>,
    layers: Option<Vec<String>>,
    vpc_config: Option<Value>,
    file_system_configs: Option<Vec<Value>>,
    dead_letter_config: Option<Value>,
    image_config: Option<Value>,
    revision_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateInput {
    function_name: Option<String>,
    code: Option<CodeInput>,
    publish: Option<bool>,
    package_type: Option<String>,
    architectures: Option<Vec<String>>,
    tags: Option<BTreeMap<String, String>>,
    #[serde(flatten)]
    config: ConfigInput,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateCodeInput {
    #[serde(flatten)]
    code: CodeInput,
    publish: Option<bool>,
    dry_run: Option<bool>,
    revision_id: Option<String>,
    architectures: Option<Vec<String>>,
}

fn parse_body<T: for<'de> Deserialize<'de>>(body: &Bytes) -> ApiResult<T> {
    let body: &[u8] = if body.is_empty() { b"{}" } else { body };
    serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid_content(format!("Could not parse request body into json: {e}"))
    })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn new_revision() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A `{FunctionName}` path member checked against this server: the name, and the qualifier the
/// caller gave in the name or in `Qualifier` (refused when the two disagree).
pub(crate) struct Target {
    pub name: FunctionName,
    pub qualifier: Option<String>,
}

/// Parses a `{FunctionName}` member (name, partial or full ARN) with an optional `Qualifier` and
/// checks its region and account against this server's, as Lambda does before anything else.
pub(crate) fn parse_target(
    state: &AppState,
    raw: &str,
    qualifier: Option<&str>,
    kind: NameKind,
) -> ApiResult<Target> {
    let r = match FunctionRef::parse_as(raw, kind) {
        Ok(r) => r,
        // A well-formed reference that no function can answer to: nothing to find.
        Err(
            ValidationError::NameTooLong { name, .. } | ValidationError::NoSuchName { name, .. },
        ) => {
            return Err(ApiError::not_found(format!(
                "Function not found: {}",
                state.function_arn(&name)
            )))
        }
        Err(e) => return Err(e.into()),
    };
    let qualifier = match (r.qualifier.as_ref().map(|q| q.as_str()), qualifier) {
        (Some(a), Some(b)) if a != b => return Err(ApiError::invalid_parameter(
            "The derived qualifier from the function name does not match the specified qualifier.",
        )),
        (a, b) => a.or(b).map(str::to_owned),
    };
    check_home(state, &r)?;
    Ok(Target {
        name: r.name,
        qualifier,
    })
}

/// A function ARN must name this server's region (else AWS's 404) and account (else 403).
fn check_home(state: &AppState, r: &FunctionRef) -> ApiResult<()> {
    if let Some(region) = r.region.as_deref().filter(|r| *r != state.region) {
        return Err(ApiError::not_found(format!(
            "Functions from '{region}' are not reachable in this region ('{}')",
            state.region
        )));
    }
    if r.account_id
        .as_deref()
        .is_some_and(|a| a != state.account_id)
    {
        return Err(ApiError::access_denied());
    }
    Ok(())
}

/// Resolves a `{FunctionName}` path member to an unqualified function name, refusing qualifiers
/// other than `$LATEST` (versions and aliases are not supported yet).
pub(crate) fn resolve_name(
    state: &AppState,
    raw: &str,
    qualifier: Option<&str>,
) -> ApiResult<FunctionName> {
    resolve_name_as(state, raw, qualifier, NameKind::Namespaced)
}

/// [`resolve_name`] for an operation whose `FunctionName` member has the given shape.
pub(crate) fn resolve_name_as(
    state: &AppState,
    raw: &str,
    qualifier: Option<&str>,
    kind: NameKind,
) -> ApiResult<FunctionName> {
    resolve_qualified_as(state, raw, qualifier, kind).map(|(name, _)| name)
}

/// [`resolve_name`] that also returns the qualifier the caller gave (`$LATEST` only, for now):
/// Lambda echoes it in ARNs and in not-found messages.
pub(crate) fn resolve_qualified(
    state: &AppState,
    raw: &str,
    qualifier: Option<&str>,
) -> ApiResult<(FunctionName, Option<String>)> {
    resolve_qualified_as(state, raw, qualifier, NameKind::Namespaced)
}

fn resolve_qualified_as(
    state: &AppState,
    raw: &str,
    qualifier: Option<&str>,
    kind: NameKind,
) -> ApiResult<(FunctionName, Option<String>)> {
    let t = parse_target(state, raw, qualifier, kind)?;
    match t.qualifier.as_deref() {
        None | Some("$LATEST") => Ok((t.name, t.qualifier)),
        Some(q) => Err(ApiError::not_found(format!(
            "Function not found: {}:{q}",
            state.function_arn(t.name.as_str())
        ))),
    }
}

/// [`load`], naming the function in a not-found message as the caller qualified it.
pub(crate) async fn load_as(
    state: &AppState,
    name: &FunctionName,
    qualifier: Option<&str>,
) -> ApiResult<FunctionConfig> {
    match state.store.get_function(name).await {
        Ok(f) => Ok(f),
        Err(StoreError::NotFound(_)) => Err(ApiError::not_found(format!(
            "Function not found: {}{}",
            state.function_arn(name.as_str()),
            qualifier.map(|q| format!(":{q}")).unwrap_or_default()
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Resolves a `{FunctionName}` member of an operation that applies to the function as a whole
/// (reserved concurrency): any qualifier, even `$LATEST`, is refused.
pub(crate) fn resolve_unqualified(state: &AppState, raw: &str) -> ApiResult<FunctionName> {
    let t = parse_target(state, raw, None, NameKind::Plain)?;
    if t.qualifier.is_some() {
        return Err(ApiError::invalid_parameter(
            "This operation is permitted on Lambda functions only. Aliases and versions do not support this operation. Please specify either a function name or an unqualified function ARN.",
        ));
    }
    Ok(t.name)
}

pub(crate) async fn load(state: &AppState, name: &FunctionName) -> ApiResult<FunctionConfig> {
    match state.store.get_function(name).await {
        Ok(f) => Ok(f),
        Err(StoreError::NotFound(_)) => Err(ApiError::not_found(format!(
            "Function not found: {}",
            state.function_arn(name.as_str())
        ))),
        Err(e) => Err(e.into()),
    }
}

fn decode_zip(zip_b64: &str) -> ApiResult<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(zip_b64.trim())
        .map_err(|_| {
            ApiError::invalid_parameter(
                "Could not unzip uploaded file. Please check your file, then try to upload again.",
            )
        })
}

fn check_code_source(code: &CodeInput) -> ApiResult<&str> {
    if code.image_uri.is_some() {
        return Err(ApiError::unsupported("Container image code (ImageUri)"));
    }
    if code.s3_bucket.is_some() || code.s3_key.is_some() {
        return Err(ApiError::unsupported(
            "Code from S3 (S3Bucket/S3Key); send ZipFile",
        ));
    }
    code.zip_file
        .as_deref()
        .ok_or_else(|| ApiError::invalid_parameter("Please provide a source for function code."))
}

fn check_architectures(archs: Option<&Vec<String>>) -> ApiResult<String> {
    match archs.map(Vec::as_slice) {
        None => Ok("x86_64".into()),
        Some([a]) if a == "x86_64" => Ok(a.clone()),
        Some([a]) if a == "arm64" => Err(ApiError::unsupported("Architecture arm64 on this x86_64 node")),
        Some([a]) => Err(ApiError::validation(format!(
            "1 validation error detected: Value '[{a}]' at 'architectures' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64]]"
        ))),
        Some(_) => Err(ApiError::validation(
            "1 validation error detected: Value at 'architectures' failed to satisfy constraint: Member must have length less than or equal to 1",
        )),
    }
}

fn check_runtime(state: &AppState, raw: &str) -> ApiResult<Runtime> {
    let runtime = Runtime::parse(raw).map_err(|_| {
        ApiError::invalid_parameter(format!(
            "Value {raw} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [{}] or be a valid ARN",
            Runtime::known().join(", ")
        ))
    })?;
    if !state.runtimes.iter().any(|r| r == raw) {
        return Err(ApiError::invalid_parameter(format!(
            "The runtime parameter of {raw} is not supported by this Kumo node. Supported runtimes: {}",
            state.runtimes.join(", ")
        )));
    }
    Ok(runtime)
}

/// Applies the configuration members present in `input` to `f`, validating each.
fn apply_config(state: &AppState, f: &mut FunctionConfig, input: &ConfigInput) -> ApiResult<()> {
    if let Some(r) = &input.runtime {
        f.runtime = check_runtime(state, r)?;
    }
    if let Some(role) = &input.role {
        validate_role(role)?;
        f.role.clone_from(role);
    }
    if let Some(h) = &input.handler {
        validate_handler(h)?;
        f.handler.clone_from(h);
    }
    if let Some(d) = &input.description {
        validate_description(d)?;
        f.description.clone_from(d);
    }
    if let Some(t) = input.timeout {
        f.timeout_secs = validate_timeout(t)?;
    }
    if let Some(m) = input.memory_size {
        f.memory_mb = validate_memory(m)?;
    }
    if let Some(env) = &input.environment {
        let vars = env.variables.clone().unwrap_or_default();
        validate_environment(&vars)?;
        f.environment = vars;
    }
    if let Some(e) = &input.ephemeral_storage {
        f.ephemeral_storage_mb = validate_ephemeral_storage(e.size)?;
    }
    if input.layers.as_ref().is_some_and(|l| !l.is_empty()) {
        return Err(ApiError::unsupported("Layers"));
    }
    let vpc_used = input.vpc_config.as_ref().is_some_and(|v| {
        ["SubnetIds", "SecurityGroupIds"].iter().any(|k| {
            v.get(k)
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
        })
    });
    if vpc_used {
        return Err(ApiError::unsupported("VpcConfig"));
    }
    if input
        .file_system_configs
        .as_ref()
        .is_some_and(|v| !v.is_empty())
    {
        return Err(ApiError::unsupported("FileSystemConfigs"));
    }
    crate::dead_letter::dead_letter_target(state, input.dead_letter_config.as_ref())?;
    if input.image_config.is_some() {
        return Err(ApiError::unsupported("ImageConfig"));
    }
    Ok(())
}

pub async fn create(State(state): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let input: CreateInput = parse_body(&body)?;
    let raw_name = input
        .function_name
        .as_deref()
        .ok_or_else(|| ApiError::validation("1 validation error detected: Value null at 'functionName' failed to satisfy constraint: Member must not be null"))?;
    // Lambda answers a bad bare name here with InvalidParameterValueException, not the
    // ValidationException every other operation uses.
    let r = FunctionRef::parse(raw_name).map_err(|e| match e {
        ValidationError::NameTooLong { .. } | ValidationError::Constraint { .. }
            if !raw_name.contains(':') =>
        {
            ApiError::invalid_parameter(e.to_string())
        }
        e => e.into(),
    })?;
    check_home(&state, &r)?;
    if r.qualifier.is_some() {
        return Err(ApiError::invalid_parameter(
            "Function name cannot contain a qualifier when creating a function",
        ));
    }
    let name = r.name;
    if input.config.role.is_none() {
        return Err(ApiError::validation(
            "1 validation error detected: Value null at 'role' failed to satisfy constraint: Member must not be null",
        ));
    }
    if input.package_type.as_deref().is_some_and(|p| p != "Zip") {
        return Err(ApiError::unsupported("PackageType Image"));
    }
    let runtime_raw = input
        .config
        .runtime
        .as_deref()
        .ok_or_else(|| ApiError::invalid_parameter("Runtime and Handler are mandatory parameters for functions created with deployment packages."))?;
    if input.config.handler.is_none() {
        return Err(ApiError::invalid_parameter(
            "Runtime and Handler are mandatory parameters for functions created with deployment packages.",
        ));
    }
    if input.publish == Some(true) {
        return Err(ApiError::unsupported("Publishing versions (Publish: true)"));
    }
    let architecture = check_architectures(input.architectures.as_ref())?;
    let code = input
        .code
        .as_ref()
        .ok_or_else(|| ApiError::validation("1 validation error detected: Value null at 'code' failed to satisfy constraint: Member must not be null"))?;
    let zip_b64 = check_code_source(code)?;
    let mut f = FunctionConfig {
        name: name.clone(),
        runtime: check_runtime(&state, runtime_raw)?,
        handler: String::new(),
        role: String::new(),
        description: String::new(),
        memory_mb: DEFAULT_MEMORY_MB,
        timeout_secs: DEFAULT_TIMEOUT_SECS,
        ephemeral_storage_mb: DEFAULT_EPHEMERAL_MB,
        environment: BTreeMap::new(),
        architecture,
        code_sha256_hex: String::new(),
        code_size: 0,
        last_modified_ms: now_ms(),
        revision_id: new_revision(),
        reserved_concurrency: None,
        tags: input.tags.clone().unwrap_or_default(),
        policy: Vec::new(),
        recursive_loop: None,
    };
    apply_config(&state, &mut f, &input.config)?;
    let zip = decode_zip(zip_b64)?;
    if state.store.get_function(&name).await.is_ok() {
        return Err(ApiError::conflict(format!(
            "Function already exist: {name}"
        )));
    }
    let info = state.code.put(zip).await?;
    f.code_sha256_hex = info.sha256_hex;
    f.code_size = info.size;
    state.store.create_function(&f).await?;
    let dlq = input.config.dead_letter_config.as_ref();
    if let Err(e) = crate::dead_letter::store_dead_letter(&state, &f.name, dlq).await {
        // A failed create leaves no function behind (the target was checked before, so this is
        // the store failing, a full disk say): not one without the dead-letter target asked for.
        if let Err(undo) = state.store.delete_function(&f.name).await {
            tracing::error!(function = %f.name, error = %undo, "could not undo a failed create");
        }
        return Err(e);
    }
    tracing::info!(function = %f.name, "function created");
    let mut doc = function_configuration(&state, &f);
    crate::dead_letter::add_dead_letter(&state, &f.name, &mut doc).await?;
    mark_creating(&mut doc);
    Ok(json(StatusCode::CREATED, doc))
}

#[derive(Deserialize)]
pub struct QualifierQuery {
    #[serde(rename = "Qualifier")]
    qualifier: Option<String>,
}

pub async fn get(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(q): Query<QualifierQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (name, qualifier) = resolve_qualified(&state, &raw, q.qualifier.as_deref())?;
    let f = load_as(&state, &name, qualifier.as_deref()).await?;
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let mut doc = function_configuration(&state, &f);
    crate::dead_letter::add_dead_letter(&state, &f.name, &mut doc).await?;
    qualify(&mut doc, qualifier.as_deref());
    let mut body = j!({
        "Configuration": doc,
        "Code": {
            "RepositoryType": "S3",
            "Location": state.code_links.location(host, &f.code_sha256_hex, std::time::SystemTime::now()),
        },
    });
    if !f.tags.is_empty() {
        body["Tags"] = j!(f.tags);
    }
    if let Some(r) = f.reserved_concurrency {
        body["Concurrency"] = j!({ "ReservedConcurrentExecutions": r });
    }
    Ok(json(StatusCode::OK, body))
}

pub async fn get_configuration(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(q): Query<QualifierQuery>,
) -> ApiResult<Response> {
    let (name, qualifier) = resolve_qualified(&state, &raw, q.qualifier.as_deref())?;
    let f = load_as(&state, &name, qualifier.as_deref()).await?;
    let mut doc = function_configuration(&state, &f);
    crate::dead_letter::add_dead_letter(&state, &f.name, &mut doc).await?;
    qualify(&mut doc, qualifier.as_deref());
    Ok(json(StatusCode::OK, doc))
}

pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let max_items = match q.get("MaxItems") {
        None => 50,
        Some(s) => {
            let n: i64 = s
                .parse()
                .map_err(|_| ApiError::invalid_parameter(format!("Invalid MaxItems: {s}")))?;
            if !(1..=10_000).contains(&n) {
                return Err(ApiError::validation(format!(
                    "1 validation error detected: Value '{n}' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 10000"
                )));
            }
            usize::try_from(n).unwrap_or(50).min(50)
        }
    };
    let all_versions = match q.get("FunctionVersion").map(String::as_str) {
        None => false,
        Some("ALL") => true,
        Some(v) => {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{v}' at 'functionVersion' failed to satisfy constraint: Member must satisfy enum value set: [ALL]"
            )))
        }
    };
    let marker = q
        .get("Marker")
        .map(String::as_str)
        .filter(|m| !m.is_empty());
    let mut page = state.store.list_functions(marker, max_items + 1).await?;
    let next = (page.len() > max_items).then(|| {
        page.truncate(max_items);
        page.last().map(|f| f.name.to_string())
    });
    let functions: Vec<Value> = page
        .iter()
        .map(|f| {
            let mut doc = function_configuration(&state, f);
            list_item(&mut doc, all_versions);
            doc
        })
        .collect();
    let mut body = j!({ "Functions": functions });
    if let Some(Some(marker)) = next {
        body["NextMarker"] = marker.into();
    }
    Ok(json(StatusCode::OK, body))
}

pub async fn update_code(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let input: UpdateCodeInput = parse_body(&body)?;
    let name = resolve_name_as(&state, &raw, None, NameKind::Plain)?;
    let mut f = load(&state, &name).await?;
    check_revision(&f, input.revision_id.as_deref())?;
    if input.publish == Some(true) {
        return Err(ApiError::unsupported("Publishing versions (Publish: true)"));
    }
    if let Some(archs) = &input.architectures {
        f.architecture = check_architectures(Some(archs))?;
    }
    let zip = decode_zip(check_code_source(&input.code)?)?;
    let info = state.code.put(zip).await?;
    let expected = f.revision_id.clone();
    f.code_sha256_hex = info.sha256_hex;
    f.code_size = info.size;
    if input.dry_run == Some(true) {
        return Ok(json(StatusCode::OK, function_configuration(&state, &f)));
    }
    f.last_modified_ms = now_ms();
    f.revision_id = new_revision();
    state.store.replace_function(&f, &expected).await?;
    state.engine.retire(f.name.as_str(), Some(&f.revision_id));
    let mut doc = function_configuration(&state, &f);
    mark_updating(&mut doc);
    Ok(json(StatusCode::OK, doc))
}

fn check_revision(f: &FunctionConfig, wanted: Option<&str>) -> ApiResult<()> {
    match wanted {
        Some(rev) if rev != f.revision_id => Err(ApiError::precondition_failed()),
        _ => Ok(()),
    }
}

pub async fn update_configuration(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let input: ConfigInput = parse_body(&body)?;
    let name = resolve_name_as(&state, &raw, None, NameKind::Plain)?;
    let mut f = load(&state, &name).await?;
    check_revision(&f, input.revision_id.as_deref())?;
    let expected = f.revision_id.clone();
    apply_config(&state, &mut f, &input)?;
    f.last_modified_ms = now_ms();
    f.revision_id = new_revision();
    state.store.replace_function(&f, &expected).await?;
    let dlq = input.dead_letter_config.as_ref();
    crate::dead_letter::store_dead_letter(&state, &f.name, dlq).await?;
    state.engine.retire(f.name.as_str(), Some(&f.revision_id));
    let mut doc = function_configuration(&state, &f);
    crate::dead_letter::add_dead_letter(&state, &f.name, &mut doc).await?;
    mark_updating(&mut doc);
    Ok(json(StatusCode::OK, doc))
}

pub async fn delete(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(q): Query<QualifierQuery>,
) -> ApiResult<Response> {
    let target = parse_target(&state, &raw, q.qualifier.as_deref(), NameKind::Namespaced)?;
    if target.qualifier.as_deref() == Some("$LATEST") {
        return Err(ApiError::invalid_parameter(
            "$LATEST version cannot be deleted without deleting the function.",
        ));
    }
    // A version qualifier names no version here (none are published): nothing to delete. Lambda
    // names the function unqualified in DeleteFunction's not-found message.
    if target.qualifier.is_some() {
        return Err(ApiError::not_found(format!(
            "Function not found: {}",
            state.function_arn(target.name.as_str())
        )));
    }
    let name = target.name;
    match state.store.delete_function(&name).await {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => {
            return Err(ApiError::not_found(format!(
                "Function not found: {}",
                state.function_arn(name.as_str())
            )))
        }
        Err(e) => return Err(e.into()),
    }
    state.engine.retire(name.as_str(), None);
    refresh_reserved(&state, &name).await?;
    tracing::info!(function = %name, "function deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn refresh_reserved(state: &AppState, name: &FunctionName) -> ApiResult<u64> {
    let others = state.store.reserved_concurrency_total(name).await?;
    let own = match state.store.get_function(name).await {
        Ok(f) => u64::from(f.reserved_concurrency.unwrap_or(0)),
        Err(_) => 0,
    };
    state.engine.set_reserved_total(others + own);
    Ok(others)
}

pub async fn account_settings(State(state): State<AppState>) -> ApiResult<Response> {
    let (count, total) = state.store.usage().await?;
    let placeholder = FunctionName::parse("-").map_err(ApiError::from)?;
    let reserved = state.store.reserved_concurrency_total(&placeholder).await?;
    let limit = u64::from(state.account_concurrency);
    Ok(json(
        StatusCode::OK,
        j!({
            "AccountLimit": {
                "TotalCodeSize": 80_530_636_800u64,
                "CodeSizeUnzipped": kumo_types::MAX_UNZIPPED_BYTES,
                "CodeSizeZipped": kumo_types::MAX_ZIP_BYTES,
                "ConcurrentExecutions": limit,
                "UnreservedConcurrentExecutions": limit.saturating_sub(reserved),
            },
            "AccountUsage": { "TotalCodeSize": total, "FunctionCount": count },
        }),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConcurrencyInput {
    reserved_concurrent_executions: Option<i64>,
}

pub async fn put_concurrency(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let input: ConcurrencyInput = parse_body(&body)?;
    let name = resolve_unqualified(&state, &raw)?;
    let wanted = input.reserved_concurrent_executions.ok_or_else(|| {
        ApiError::validation("1 validation error detected: Value null at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must not be null")
    })?;
    if wanted < 0 {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{wanted}' at 'reservedConcurrentExecutions' failed to satisfy constraint: Member must have value greater than or equal to 0"
        )));
    }
    let mut f = load_as(&state, &name, Some("$LATEST")).await?;
    let others = state.store.reserved_concurrency_total(&name).await?;
    let limit = u64::from(state.account_concurrency);
    let wanted_u = u64::try_from(wanted).unwrap_or(u64::MAX);
    // Lambda keeps 100 executions unreserved; a node configured below that keeps all of them.
    let floor = u64::from(MIN_UNRESERVED_CONCURRENCY).min(limit);
    if limit.saturating_sub(others).saturating_sub(wanted_u) < floor || others + wanted_u > limit {
        return Err(ApiError::invalid_parameter(format!(
            "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [{floor}]."
        )));
    }
    let expected = f.revision_id.clone();
    f.reserved_concurrency = Some(u32::try_from(wanted).unwrap_or(u32::MAX));
    state.store.replace_function(&f, &expected).await?;
    state.engine.set_reserved_total(others + wanted_u);
    Ok(json(
        StatusCode::OK,
        j!({ "ReservedConcurrentExecutions": wanted }),
    ))
}

pub async fn get_concurrency(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> ApiResult<Response> {
    let name = resolve_unqualified(&state, &raw)?;
    let f = load(&state, &name).await?;
    let body = match f.reserved_concurrency {
        Some(r) => j!({ "ReservedConcurrentExecutions": r }),
        None => j!({}),
    };
    Ok(json(StatusCode::OK, body))
}

pub async fn delete_concurrency(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> ApiResult<Response> {
    let name = resolve_unqualified(&state, &raw)?;
    let mut f = load(&state, &name).await?;
    let expected = f.revision_id.clone();
    f.reserved_concurrency = None;
    state.store.replace_function(&f, &expected).await?;
    refresh_reserved(&state, &name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `Code.Location`: the stored package, by its SHA-256, for a request that carries the link's
/// unexpired signature.
pub async fn download_code(
    State(state): State<AppState>,
    Path(file): Path<String>,
    parts: axum::http::request::Parts,
) -> Result<Response, Response> {
    if let Err(refused) = state.code_links.check(&parts, std::time::SystemTime::now()) {
        tracing::info!(path = parts.uri.path(), ?refused, "code download refused");
        return Err(refused.into_response());
    }
    let sha = file.strip_suffix(".zip").unwrap_or(&file).to_owned();
    let bytes = state
        .code
        .read(&sha)
        .await
        .map_err(|e| ApiError::from(e).into_response())?
        .ok_or_else(|| ApiError::not_found("No such code package").into_response())?;
    Ok(([("content-type", "application/zip")], bytes).into_response())
}
