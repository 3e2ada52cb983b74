//! HTTP: the routes, and what surrounds the GraphQL executor (CORS, compression, tracing).

pub(crate) mod endpoint;
mod graphiql;
pub(crate) mod json;
mod large;
mod request_id;

use std::sync::Arc;
use std::time::Duration;

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::Router;
use axum::body::Body;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts as _, State};
use axum::http::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, UPGRADE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sea_orm::ConnectionTrait as _;
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use self::endpoint::{MediaType, Refusal};
use crate::auth::{Access, AccessPolicy};
use crate::config::{CorsOrigin, HttpArgs, LimitsArgs};
use crate::error::ApiError;
use crate::graphql::AppSchema;
use crate::graphql::loaders::Loaders;
use crate::graphql::pipeline::Executor;
use crate::monitoring::{self, Outcome};
use crate::state::AppState;

struct HttpState {
    schema: AppSchema,
    executor: Executor,
    app: AppState,
    policy: AccessPolicy,
    max_body: usize,
    request_timeout: Duration,
}

pub fn router(
    schema: AppSchema,
    executor: Executor,
    app: AppState,
    policy: AccessPolicy,
    http: &HttpArgs,
    limits: &LimitsArgs,
) -> Router {
    let state = HttpState {
        schema,
        executor,
        app,
        policy,
        max_body: limits.max_body_bytes(),
        request_timeout: limits.request_timeout(),
    };
    let routes = Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post).fallback(other_method))
        .route("/graphiql/{file}", get(graphiql::asset))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    let routes = if http.metrics_listen.is_none() { routes.route("/metrics", get(metrics)) } else { routes };
    // The layers wrap the routed router once, as one service, rather than through
    // `Router::layer`, which boxes every route once per layer and clones each box on every
    // request: with five layers that was 15 boxed services cloned (allocated) and dropped
    // per request (callgrind: with the state's `Arc` and the kept metric handles, a run by
    // id went from 184,492 to 172,764 instructions).
    let service = ServiceBuilder::new()
        // Outermost: every request gets an id (the client's `x-request-id`, or a new
        // UUID), its span carries it, and the response echoes it.
        .layer(SetRequestIdLayer::x_request_id(request_id::MakeFastUuid))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(PropagateRequestIdLayer::x_request_id())
        .option_layer(cors(&http.cors_origins))
        // gzip or brotli, as the client accepts: a page of runs with configs shrinks ~5×.
        .layer(CompressionLayer::new())
        .service(routes.with_state(Arc::new(state)));
    Router::new().fallback_service(service)
}

/// `--metrics-listen`: a router with `/metrics` alone.
pub fn metrics_router(app: AppState) -> Router {
    Router::new().route("/metrics", get(metrics_only)).with_state(app)
}

async fn metrics(State(state): State<Arc<HttpState>>) -> Response {
    metrics_only(State(state.app.clone())).await
}

/// Prometheus's text format.
async fn metrics_only(State(app): State<AppState>) -> Response {
    let embedded_up = app.embedded_pid_file.as_deref().map(|f| crate::embedded_pg::postmaster_running(f));
    let text = crate::monitoring::render(crate::monitoring::Scrape {
        pools: &app.pools,
        replicas: app.replicas.as_deref(),
        embedded_up,
    })
    .await;
    ([(CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"))], text).into_response()
}

/// The span of one request: its id, method and path. Never the query string (a GET's
/// variables), never headers (tokens): logs must not hold what the client sent.
fn request_span(request: &axum::http::Request<Body>) -> tracing::Span {
    let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
    // A gateway's W3C trace context: exported traces continue its trace (`telemetry::otlp`).
    let span = tracing::info_span!(
        "request",
        id = %id,
        method = %request.method(),
        path = %request.uri().path(),
        traceparent = tracing::field::Empty
    );
    if let Some(traceparent) = request.headers().get("traceparent").and_then(|v| v.to_str().ok()) {
        span.record("traceparent", traceparent);
    }
    span
}

/// CORS for the configured origins; none configured, no CORS headers at all (browsers
/// then allow only same-origin pages, such as GraphiQL served here).
fn cors(origins: &[CorsOrigin]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.contains(&CorsOrigin::Any) {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| match o {
            CorsOrigin::Exact(origin) => HeaderValue::from_str(origin).ok(),
            CorsOrigin::Any => None,
        }))
    };
    // Bearer tokens travel in a header, not cookies: no credentials mode is needed.
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                CONTENT_TYPE,
                ACCEPT,
                AUTHORIZATION,
                HeaderName::from_static("apollo-require-preflight"),
                HeaderName::from_static("x-apollo-operation-name"),
                HeaderName::from_static("traceparent"),
                HeaderName::from_static(crate::replicas::LSN_HEADER),
            ])
            .expose_headers([HeaderName::from_static(crate::replicas::LSN_HEADER)])
            .max_age(Duration::from_secs(3600)),
    )
}

/// `GET /graphql`: a query in the URL, GraphiQL for a browser that navigates here, or a
/// WebSocket for subscriptions (`graphql-transport-ws`, or the older `graphql-ws`).
async fn graphql_get(State(state): State<Arc<HttpState>>, request: axum::extract::Request) -> Response {
    let (mut parts, _) = request.into_parts();
    if parts.headers.get(UPGRADE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("websocket")) {
        return subscriptions(state, &mut parts).await;
    }
    let headers = parts.headers;
    let query = parts.uri.query();
    if wants_page(&headers, query) {
        return graphiql::page();
    }
    let Some(media) = MediaType::negotiate(&headers) else { return endpoint::not_acceptable().into_response(None) };
    match endpoint::decode_get(query) {
        Ok(request) => execute(&state, &headers, request, media).await,
        Err(refusal) => refused(refusal, media),
    }
}

/// A request refused before it was decoded (no operation name to label it with).
fn refused(refusal: Refusal, media: MediaType) -> Response {
    monitoring::record_error_code(refusal.code());
    monitoring::record_request("undecoded", Outcome::Rejected, std::time::Duration::ZERO);
    refusal.into_response(Some(media))
}

/// The WebSocket of subscriptions. The token may come in the upgrade request's
/// `Authorization` header or, as browsers cannot set headers on a WebSocket, in the
/// `connection_init` payload (`{"Authorization": "Bearer …"}`); when reads need a token, a
/// connection without one is refused at `connection_init`.
async fn subscriptions(state: Arc<HttpState>, parts: &mut axum::http::request::Parts) -> Response {
    let protocol = match GraphQLProtocol::from_request_parts(parts, &()).await {
        Ok(protocol) => protocol,
        Err(rejection) => return rejection.into_response(),
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let header_access = state.policy.access(&parts.headers);
    upgrade.protocols(ALL_WEBSOCKET_PROTOCOLS).on_upgrade(move |socket| {
        let (schema, app, policy) = (state.schema.clone(), state.app.clone(), state.policy.clone());
        GraphQLWebSocket::new(socket, schema, protocol)
            .on_connection_init(move |payload| async move {
                let token = ["Authorization", "authorization"]
                    .iter()
                    .find_map(|k| payload.get(*k).and_then(|v| v.as_str()).map(str::to_owned));
                let access = match token.and_then(|t| HeaderValue::from_str(&t).ok()) {
                    Some(value) => {
                        let mut headers = HeaderMap::new();
                        headers.insert(AUTHORIZATION, value);
                        policy.access(&headers)
                    }
                    None => header_access,
                };
                if policy.reads_need_token() && !matches!(access, Access::Read | Access::Write) {
                    return Err(async_graphql::Error::from(ApiError::access_denied(access)));
                }
                let mut data = async_graphql::Data::default();
                data.insert(Loaders::new(&app.pools.read));
                data.insert(access);
                Ok(data)
            })
            .serve()
    })
}

/// A browser's navigation: HTML accepted, and no GraphQL parameters in the URL.
fn wants_page(headers: &HeaderMap, query: Option<&str>) -> bool {
    let html = headers.get(ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    let graphql_params = query.is_some_and(|q| {
        q.split('&').any(|pair| matches!(pair.split('=').next(), Some("query" | "extensions" | "variables")))
    });
    html && !graphql_params
}

async fn graphql_post(State(state): State<Arc<HttpState>>, headers: HeaderMap, body: Body) -> Response {
    let Some(media) = MediaType::negotiate(&headers) else { return endpoint::not_acceptable().into_response(None) };
    let declared = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > large::LARGE_BODY_BYTES && len <= state.max_body as u64) {
        let work = async move { post(&state, &headers, body, media).await };
        return large::run(work).await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "a large request failed");
            let refusal = endpoint::internal();
            monitoring::record_error_code(refusal.code());
            refusal.into_response(Some(media))
        });
    }
    post(&state, &headers, body, media).await
}

async fn post(state: &HttpState, headers: &HeaderMap, body: Body, media: MediaType) -> Response {
    match endpoint::decode_post(headers, body, state.max_body).await {
        Ok(request) => execute(state, headers, request, media).await,
        Err(refusal) => refused(refusal, media),
    }
}

/// PUT, DELETE, …: a GraphQL error body like every other refusal of this endpoint.
async fn other_method(headers: HeaderMap) -> Response {
    let mut response =
        Refusal::method_not_allowed("use POST, or GET for queries").into_response(MediaType::negotiate(&headers));
    response.headers_mut().insert(axum::http::header::ALLOW, HeaderValue::from_static("GET, POST"));
    response
}

async fn execute(
    state: &HttpState,
    headers: &HeaderMap,
    request: async_graphql::Request,
    media: MediaType,
) -> Response {
    let started = std::time::Instant::now();
    let operation = monitoring::operation_label(request.operation_name.as_deref());
    let access = state.policy.access(headers);
    if state.policy.reads_need_token() && !matches!(access, Access::Read | Access::Write) {
        let response = refuse(access, media);
        monitoring::record_error_code(ApiError::access_denied(access).code());
        monitoring::record_request(&operation, Outcome::Rejected, started.elapsed());
        return response;
    }
    let read = read_target(state, headers, &request).await;
    let request = request.data(Loaders::new(&read)).data(access);
    // Dropping the execution stops its work in this process; a statement it left running
    // in PostgreSQL ends at the statement timeout, which is shorter.
    // Boxed: async-graphql's execution is a future of several kilobytes, which every
    // future around it (this one, axum's handler, the middleware's) would otherwise hold
    // inline and copy as each is created and moved.
    match tokio::time::timeout(state.request_timeout, Box::pin(state.executor.execute(request))).await {
        Ok(mut response) => {
            let outcome = outcome(&mut response);
            monitoring::record_request(&operation, outcome, started.elapsed());
            endpoint::encode(response, media)
        }
        Err(_) => {
            tracing::warn!(timeout_ms = state.request_timeout.as_millis() as u64, "request timed out");
            monitoring::record_request(&operation, Outcome::Timeout, started.elapsed());
            monitoring::record_error_code("TIMEOUT");
            endpoint::timed_out(state.request_timeout).into_response(Some(media))
        }
    }
}

/// The pool this request's reads go to: the primary for mutations (what they return must
/// include what they wrote), else a replica (see `replicas`), one that has replayed the
/// client's `x-tearsheet-lsn` when it sends one.
async fn read_target(state: &HttpState, headers: &HeaderMap, request: &async_graphql::Request) -> crate::db::Db {
    let Some(replicas) = &state.app.replicas else { return state.app.pools.read.clone() };
    if endpoint::is_mutation(request) {
        return state.app.pools.read.clone();
    }
    let after =
        headers.get(crate::replicas::LSN_HEADER).and_then(|v| v.to_str().ok()).and_then(crate::replicas::parse_lsn);
    let target = replicas.route(after).await;
    monitoring::record_read(target.replica.is_some());
    target.db
}

/// How an executed request went, its errors counted by code.
fn outcome(response: &mut async_graphql::Response) -> Outcome {
    let request_error = endpoint::settle(response);
    for error in &response.errors {
        let code = error.extensions.as_ref().and_then(|e| e.get("code")).and_then(|c| match c {
            async_graphql::Value::String(s) => Some(s.as_str()),
            _ => None,
        });
        monitoring::record_error_code(code.unwrap_or("NONE"));
    }
    if response.errors.is_empty() {
        Outcome::Ok
    } else if request_error {
        Outcome::Rejected
    } else {
        Outcome::Error
    }
}

/// A request without the token reads need: 401 (with the scheme to use) or 403, and a
/// GraphQL error body with the same `extensions.code` a resolver would give.
fn refuse(access: Access, media: MediaType) -> Response {
    let err = ApiError::access_denied(access);
    let status = if err.code() == "UNAUTHENTICATED" { StatusCode::UNAUTHORIZED } else { StatusCode::FORBIDDEN };
    let mut response = Refusal::from_api_error(status, err).into_response(Some(media));
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// Liveness: the process is up.
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: both pools can run `SELECT 1` within a second.
async fn readyz(State(state): State<Arc<HttpState>>) -> impl IntoResponse {
    let pools = &state.app.pools;
    let probe = async {
        pools.read.execute_unprepared("SELECT 1").await?;
        pools.write.execute_unprepared("SELECT 1").await
    };
    match tokio::time::timeout(Duration::from_secs(1), probe).await {
        Ok(Ok(_)) => (StatusCode::OK, "ready"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database did not answer within 1 s"),
    }
}
