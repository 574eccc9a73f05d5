//! `dga serve`: the detector over HTTP. Three dialects share one scoring path: the
//! TensorFlow Serving REST API (so existing clients work with only the model name changed),
//! the free-text API (`/get_prediction`, `/get_predictions`) and our own `/v1/score`.

// Handlers fail with the HTTP response to send; boxing it would only add noise.
#![allow(clippy::result_large_err)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use clap::Args;
use model_core::extract::candidates;
use model_core::report::{CSV_HEADER, classification, csv_row, json_row};
use model_core::{Detector, Verdict, normalise};
use serde_json::{Map, Value, json};

use crate::CpuBackend;
use crate::lines::{Line, LossyLines};
use crate::scoring::{ScoringArgs, score_lines};

mod batcher;
pub mod bench;
mod metrics;

use batcher::{Batcher, SMALL_REQUEST};
use metrics::Metrics;

/// The model name in TensorFlow Serving paths (`/v1/models/dga:predict`).
pub const MODEL_NAME: &str = "dga";

#[derive(Args, Clone, Debug)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub scoring: ScoringArgs,
    /// Largest request body in bytes; bigger requests are answered 413.
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    pub max_body: usize,
    /// Most names one request may hold; more are answered 413.
    #[arg(long, default_value_t = 100_000)]
    pub max_names: usize,
    /// Score small requests together with those queued beside them, on one thread: lower p99
    /// latency under load, but fewer requests/s on 2 cores (docs/http-api.md).
    #[arg(long)]
    pub micro_batch: bool,
    /// Require `Authorization: Bearer TOKEN` on every endpoint but /healthz.
    #[arg(long, env = "DGA_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// What every handler reads.
pub struct AppState {
    detector: Arc<Detector<CpuBackend>>,
    /// Small requests go through it when micro-batching is on.
    batcher: Option<Batcher>,
    max_body: usize,
    max_names: usize,
    token: Option<String>,
    metrics: Metrics,
}

pub fn run(args: ServeArgs) -> Result<()> {
    let detector = args.scoring.detector::<CpuBackend>(Default::default())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("cannot listen on {}", args.addr))?;
        let addr = listener.local_addr()?;
        eprintln!(
            "listening on http://{addr} ({} allow-list entries{})",
            detector.allow.len(),
            if args.token.is_some() {
                ", bearer token required"
            } else {
                ""
            }
        );
        let state = AppState::new(detector, args.micro_batch);
        let state = AppState {
            max_body: args.max_body,
            max_names: args.max_names,
            token: args.token.clone(),
            ..state
        };
        let app = router(Arc::new(state));
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("the server stopped")
    })
}

impl AppState {
    /// A state with the default limits, no token, and micro-batching if asked.
    pub fn new(detector: Detector<CpuBackend>, micro_batch: bool) -> Self {
        let detector = Arc::new(detector);
        Self {
            batcher: micro_batch.then(|| Batcher::start(detector.clone())),
            detector,
            max_body: 16 * 1024 * 1024,
            max_names: 100_000,
            token: None,
            metrics: Metrics::default(),
        }
    }
}

/// Every route, with the body cap, the token check and the request metrics around them.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(prometheus))
        .route("/v1/models/{*rest}", get(tf_get).post(tf_post))
        .route("/get_prediction/{*text}", get(get_prediction))
        .route("/get_predictions", post(get_predictions))
        .route("/v1/score", post(score))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        // Bodies are capped by `LimitedBody`, which also drains what it refuses.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM can be watched");
        tokio::select! { _ = interrupt => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    eprintln!("shutting down");
}

type Shared = State<Arc<AppState>>;

/// A body bigger than this many times the cap is cut off rather than drained.
const DRAIN_FACTOR: usize = 4;

/// The request body, at most `--max-body` bytes. A bigger one is read on (up to
/// [`DRAIN_FACTOR`] times the cap) and dropped before the 413 goes out: answering while the
/// client is still sending resets the connection, and the client never sees why.
struct LimitedBody(Bytes);

impl FromRequest<Arc<AppState>> for LimitedBody {
    type Rejection = Response;

    async fn from_request(request: Request, state: &Arc<AppState>) -> Result<Self, Response> {
        use http_body_util::BodyExt;
        let mut body = request.into_body();
        let mut kept = Vec::new();
        let mut total = 0usize;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                error(
                    StatusCode::BAD_REQUEST,
                    format!("cannot read the body: {e}"),
                )
            })?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            total += data.len();
            if total <= state.max_body {
                kept.extend_from_slice(&data);
            } else if total > DRAIN_FACTOR * state.max_body {
                break;
            }
        }
        if total > state.max_body {
            return Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "body of {total}{} bytes; at most {} (split it, or start with --max-body)",
                    if total > DRAIN_FACTOR * state.max_body {
                        "+"
                    } else {
                        ""
                    },
                    state.max_body
                ),
            ));
        }
        Ok(LimitedBody(Bytes::from(kept)))
    }
}

/// A JSON error the way TensorFlow Serving writes them: `{"error": "..."}`.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": message.into() }))).into_response()
}

/// Checks the token and records every request, whatever its answer.
async fn guard(State(state): Shared, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let endpoint = metrics::endpoint_of(request.uri().path());
    let response = match &state.token {
        Some(token) if endpoint != "healthz" && !bearer_matches(request.headers(), token) => {
            error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token")
        }
        _ => next.run(request).await,
    };
    state
        .metrics
        .record(endpoint, response.status().as_u16(), started.elapsed());
    response
}

/// Whether the request carries the token. Compared in constant time (`subtle`), so that the
/// time an answer takes tells nothing of how many leading bytes a guess got right; only a
/// wrong length answers at once.
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    use subtle::ConstantTimeEq;
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| bool::from(given.as_bytes().ct_eq(token.as_bytes())))
}

async fn not_found(uri: axum::http::Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!(
            "no endpoint at {}; see /healthz, /v1/models/{MODEL_NAME}, /v1/score",
            uri.path()
        ),
    )
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", uri.path()),
    )
}

async fn healthz(State(state): Shared) -> Response {
    axum::Json(json!({
        "status": "ok",
        "model": MODEL_NAME,
        "allow_list_entries": state.detector.allow.len(),
    }))
    .into_response()
}

async fn prometheus(State(state): Shared) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

/// Scores lines on the blocking pool, so that a large request never holds up the async threads
/// that answer everyone else.
async fn score_off_thread(
    state: &Arc<AppState>,
    lines: Vec<Line>,
) -> Result<Vec<Verdict>, Response> {
    if lines.len() > state.max_names {
        return Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{} names in one request; at most {} (split the list, or start with --max-names)",
                lines.len(),
                state.max_names
            ),
        ));
    }
    let failed = || error(StatusCode::INTERNAL_SERVER_ERROR, "scoring failed");
    let verdicts = match &state.batcher {
        Some(batcher) if lines.len() <= SMALL_REQUEST => {
            batcher.score(lines).await.ok_or_else(failed)?
        }
        _ => {
            let detector = state.detector.clone();
            tokio::task::spawn_blocking(move || score_lines(&detector, &lines))
                .await
                .map_err(|_| failed())?
        }
    };
    state.metrics.scored(verdicts.len());
    Ok(verdicts)
}

fn parse_json(body: &Bytes) -> Result<Value, Response> {
    if body.is_empty() {
        return Err(error(StatusCode::BAD_REQUEST, "empty body; expected JSON"));
    }
    serde_json::from_slice(body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!("body is not valid JSON: {e}"),
        )
    })
}

/// `value[name]` of a JSON object; anything else is a 400 that says the expected `shape`.
fn field(value: Value, name: &str, shape: &str) -> Result<Value, Response> {
    match value {
        Value::Object(mut fields) => fields
            .remove(name)
            .ok_or_else(|| error(StatusCode::BAD_REQUEST, shape)),
        _ => Err(error(StatusCode::BAD_REQUEST, shape)),
    }
}

// ---- TensorFlow Serving ----------------------------------------------------------------

/// What a `/v1/models/...` path asks for.
#[derive(Debug, PartialEq, Eq)]
enum TfRequest<'a> {
    Status,
    Metadata,
    Verb(&'a str),
}

/// Parses `NAME[/versions/N][/metadata | :VERB]`; the model name must be ours.
fn tf_path(rest: &str) -> Result<TfRequest<'_>, Response> {
    let (path, verb) = match rest.rsplit_once(':') {
        Some((path, verb)) => (path, Some(verb)),
        None => (rest, None),
    };
    let mut parts = path.trim_end_matches('/').split('/');
    let name = parts.next().unwrap_or("");
    if name != MODEL_NAME {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!(
                "Servable not found for request: Latest({name}); this server serves `{MODEL_NAME}`"
            ),
        ));
    }
    let mut tail: Vec<&str> = parts.collect();
    if let ["versions", version, ..] = tail.as_slice() {
        if *version != "1" {
            return Err(error(
                StatusCode::NOT_FOUND,
                format!(
                    "Servable not found for request: Specific({name}, {version}); only version 1"
                ),
            ));
        }
        tail.drain(..2);
    }
    match (tail.as_slice(), verb) {
        ([], None) => Ok(TfRequest::Status),
        (["metadata"], None) => Ok(TfRequest::Metadata),
        ([], Some(verb)) => Ok(TfRequest::Verb(verb)),
        _ => Err(error(
            StatusCode::NOT_FOUND,
            format!("no such model endpoint: /v1/models/{rest}"),
        )),
    }
}

async fn tf_get(Path(rest): Path<String>) -> Response {
    match tf_path(&rest) {
        Ok(TfRequest::Status) => axum::Json(json!({
            "model_version_status": [{
                "version": "1",
                "state": "AVAILABLE",
                "status": { "error_code": "OK", "error_message": "" }
            }]
        }))
        .into_response(),
        Ok(TfRequest::Metadata) => axum::Json(json!({
            "model_spec": { "name": MODEL_NAME, "signature_name": "", "version": "1" },
            "metadata": { "signature_def": { "signature_def": { "serving_default": {
                "inputs": { "domain": { "dtype": "DT_STRING", "tensor_shape": { "dim": [{ "size": "-1" }] },
                    "name": "domain" } },
                "outputs": {
                    "p_dga": { "dtype": "DT_FLOAT", "tensor_shape": { "dim": [{ "size": "-1" }] }, "name": "p_dga" },
                    "risk": { "dtype": "DT_STRING", "tensor_shape": { "dim": [{ "size": "-1" }] }, "name": "risk" }
                },
                "method_name": "tensorflow/serving/predict"
            } } } }
        }))
        .into_response(),
        Ok(TfRequest::Verb(_)) => error(StatusCode::METHOD_NOT_ALLOWED, "use POST for :predict"),
        Err(response) => response,
    }
}

async fn tf_post(
    State(state): Shared,
    Path(rest): Path<String>,
    LimitedBody(body): LimitedBody,
) -> Response {
    match tf_path(&rest) {
        Ok(TfRequest::Verb("predict")) => {}
        Ok(TfRequest::Verb(verb)) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("`:{verb}` is not supported; this model answers `:predict`"),
            );
        }
        Ok(_) => {
            return error(
                StatusCode::METHOD_NOT_ALLOWED,
                "use GET for status and metadata",
            );
        }
        Err(response) => return response,
    }
    match tf_predict(&state, &body).await {
        Ok(response) | Err(response) => response,
    }
}

/// The instances of a predict request, each a name or why it is not one, and whether the
/// answer goes under `outputs` (the columnar `inputs` form) rather than `predictions`.
fn tf_instances(request: &Value) -> Result<(Vec<Line>, bool), String> {
    let Value::Object(fields) = request else {
        return Err("expected a JSON object with `instances` or `inputs`".into());
    };
    let (items, columnar) = match (fields.get("instances"), fields.get("inputs")) {
        (Some(_), Some(_)) => return Err("give `instances` or `inputs`, not both".into()),
        (Some(Value::Array(items)), None) => (items, false),
        (None, Some(Value::Array(items))) => (items, true),
        // Columnar with a named input: {"inputs": {"domain": [...]}}.
        (None, Some(Value::Object(named))) => match named.get("domain") {
            Some(Value::Array(items)) => (items, true),
            _ => return Err("`inputs` as an object needs a `domain` list".into()),
        },
        (None, None) => {
            return Err("expected `instances` (or `inputs`): a list of domain names".into());
        }
        _ => return Err("`instances` and `inputs` must be lists of domain names".into()),
    };
    let lines = items
        .iter()
        .enumerate()
        .map(|(i, item)| instance_line(i, item))
        .collect();
    Ok((lines, columnar))
}

/// One instance: a string, or an object with a `domain` (or `input`) string, TF's row form.
fn instance_line(index: usize, item: &Value) -> Line {
    let text = match item {
        Value::String(s) => Some(s.as_str()),
        Value::Object(o) => o
            .get("domain")
            .or_else(|| o.get("input"))
            .and_then(Value::as_str),
        _ => None,
    };
    match text {
        Some(text) => Line::clean(text),
        None => Line {
            text: item.to_string().chars().take(200).collect(),
            problem: Some(format!(
                "instance {index} is not a domain name (a string, or an object with a `domain` string)"
            )),
        },
    }
}

async fn tf_predict(state: &Arc<AppState>, body: &Bytes) -> Result<Response, Response> {
    let request = parse_json(body)?;
    let (lines, columnar) =
        tf_instances(&request).map_err(|m| error(StatusCode::BAD_REQUEST, m))?;
    let verdicts = score_off_thread(state, lines).await?;
    let answers: Vec<Value> = verdicts.iter().map(json_row).collect();
    let key = if columnar { "outputs" } else { "predictions" };
    Ok(axum::Json(json!({ key: answers })).into_response())
}

// ---- free text --------------------------------------------------------------------------

/// `{domain: {classification, p_dga, p_legit}}` for every valid name in `text`; IPs and other
/// words that are not names are skipped, and none at all is a 422 saying why.
async fn free_text(state: &Arc<AppState>, text: &str) -> Result<Response, Response> {
    let mut names = Vec::new();
    let mut skipped = Vec::new();
    for candidate in candidates(text).candidates {
        match normalise(candidate.text) {
            Ok(domain) if !names.contains(&domain.name) => names.push(domain.name),
            Ok(_) => {}
            // IPs are skipped like any other word that is not a name, and said so.
            Err(e) => skipped.push(json!({ "input": candidate.text, "reason": e.to_string() })),
        }
    }
    if names.is_empty() {
        return Err((
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({ "error": "no valid domain name found", "skipped": skipped })),
        )
            .into_response());
    }
    let verdicts = score_off_thread(state, names.into_iter().map(Line::clean).collect()).await?;
    let mut answer = Map::new();
    for verdict in &verdicts {
        if let Ok(s) = &verdict.result {
            answer.insert(
                s.domain.name.clone(),
                json!({
                    "classification": classification(verdict),
                    "p_dga": s.p_dga,
                    "p_legit": 1.0 - s.p_dga,
                    "risk": s.risk.as_str(),
                    "family": s.family.as_ref().map(|f| &f.name),
                }),
            );
        }
    }
    Ok(axum::Json(Value::Object(answer)).into_response())
}

async fn get_prediction(State(state): Shared, Path(text): Path<String>) -> Response {
    match free_text(&state, &text).await {
        Ok(response) | Err(response) => response,
    }
}

async fn get_predictions(State(state): Shared, LimitedBody(body): LimitedBody) -> Response {
    let shape = "expected {\"url_string\": \"free text\"}";
    let text = match parse_json(&body).and_then(|v| field(v, "url_string", shape)) {
        Ok(Value::String(text)) => text,
        Ok(_) => return error(StatusCode::BAD_REQUEST, shape),
        Err(response) => return response,
    };
    match free_text(&state, &text).await {
        Ok(response) | Err(response) => response,
    }
}

// ---- our own ----------------------------------------------------------------------------

/// `POST /v1/score`: a JSON list of names (or `{"domains": [...]}`), or text with one name per
/// line; answers JSON, or CSV with the `predict` columns when asked (`Accept: text/csv` or
/// `?format=csv`).
async fn score(
    State(state): Shared,
    headers: HeaderMap,
    uri: axum::http::Uri,
    LimitedBody(body): LimitedBody,
) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let lines = if is_json {
        let shape = "expected a list of names or {\"domains\": [...]}";
        let items = match parse_json(&body) {
            Ok(Value::Array(items)) => items,
            Ok(other) => match field(other, "domains", shape) {
                Ok(Value::Array(items)) => items,
                Ok(_) => return error(StatusCode::BAD_REQUEST, shape),
                Err(response) => return response,
            },
            Err(response) => return response,
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| instance_line(i, item))
            .collect()
    } else {
        if body.is_empty() {
            return error(
                StatusCode::BAD_REQUEST,
                "empty body; send names one per line, or JSON",
            );
        }
        match LossyLines::new(body.as_ref()).collect::<std::io::Result<Vec<Line>>>() {
            Ok(lines) => lines,
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("cannot read body: {e}")),
        }
    };
    let verdicts = match score_off_thread(&state, lines).await {
        Ok(verdicts) => verdicts,
        Err(response) => return response,
    };
    let wants_csv = uri
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "format=csv"))
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/csv"));
    if wants_csv {
        let write = || -> Result<Vec<u8>> {
            let mut writer = csv::Writer::from_writer(Vec::new());
            writer.write_record(CSV_HEADER)?;
            for verdict in &verdicts {
                writer.write_record(csv_row(verdict))?;
            }
            Ok(writer.into_inner().map_err(|e| e.into_error())?)
        };
        return match write() {
            Ok(bytes) => (
                [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
                Body::from(bytes),
            )
                .into_response(),
            Err(e) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot write CSV: {e}"),
            ),
        };
    }
    axum::Json(Value::Array(verdicts.iter().map(json_row).collect())).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensorflow_paths_parse() {
        assert_eq!(tf_path("dga").ok(), Some(TfRequest::Status));
        assert_eq!(tf_path("dga/metadata").ok(), Some(TfRequest::Metadata));
        assert_eq!(
            tf_path("dga:predict").ok(),
            Some(TfRequest::Verb("predict"))
        );
        assert_eq!(
            tf_path("dga/versions/1:predict").ok(),
            Some(TfRequest::Verb("predict"))
        );
        assert_eq!(tf_path("dga/versions/1").ok(), Some(TfRequest::Status));
        for bad in ["other:predict", "dga/versions/2:predict", "dga/extra", ""] {
            assert!(tf_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn instances_come_in_every_tensorflow_form() {
        let texts = |v: Value| {
            let (lines, columnar) = tf_instances(&v).unwrap();
            (
                lines
                    .into_iter()
                    .map(|l| (l.text, l.problem.is_some()))
                    .collect::<Vec<_>>(),
                columnar,
            )
        };
        let (rows, columnar) = texts(json!({"instances": ["a.com", {"domain": "b.org"}, 7]}));
        assert!(!columnar);
        assert_eq!(
            rows,
            [
                ("a.com".into(), false),
                ("b.org".into(), false),
                ("7".into(), true)
            ]
        );
        assert!(texts(json!({"inputs": ["a.com"]})).1);
        assert_eq!(
            texts(json!({"inputs": {"domain": ["c.net"]}})).0,
            [("c.net".into(), false)]
        );
        for bad in [
            json!([1]),
            json!({}),
            json!({"instances": "a.com"}),
            json!({"instances": [], "inputs": []}),
        ] {
            assert!(tf_instances(&bad).is_err(), "{bad}");
        }
    }
}
