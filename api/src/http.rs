//! HTTP: the routes, and what surrounds the GraphQL executor (body limit, tracing).

use std::time::Duration;

use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::Router;
use axum::extract::State;
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use sea_orm::ConnectionTrait as _;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::auth::{Access, AccessPolicy};
use crate::error::ApiError;
use crate::graphql::AppSchema;
use crate::graphql::loaders::Loaders;
use crate::state::AppState;

/// async-graphql-axum reads the body stream itself, so axum's default body limit does not
/// apply: this layer is what bounds it. 16 MiB fits a batch of 1000 runs with 5 KB configs.
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

#[derive(Clone)]
struct HttpState {
    schema: AppSchema,
    app: AppState,
    policy: AccessPolicy,
}

pub fn router(schema: AppSchema, app: AppState, policy: AccessPolicy) -> Router {
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(HttpState { schema, app, policy })
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http())
}

async fn graphql(State(state): State<HttpState>, headers: HeaderMap, request: GraphQLRequest) -> Response {
    let access = state.policy.access(&headers);
    if state.policy.reads_need_token() && !matches!(access, Access::Read | Access::Write) {
        return refuse(access);
    }
    let request = request.into_inner().data(Loaders::new(&state.app.pools.read)).data(access);
    GraphQLResponse::from(state.schema.execute(request).await).into_response()
}

/// A request without the token reads need: 401 (with the scheme to use) or 403, and a
/// GraphQL error body with the same `extensions.code` a resolver would give.
fn refuse(access: Access) -> Response {
    let err = ApiError::access_denied(access);
    let status = if err.code() == "UNAUTHENTICATED" { StatusCode::UNAUTHORIZED } else { StatusCode::FORBIDDEN };
    // The same conversion as a resolver's error; a request-level error has no location.
    let error = async_graphql::ServerError {
        locations: Vec::new(),
        ..async_graphql::Error::from(err).into_server_error(Default::default())
    };
    let mut response = (status, axum::Json(async_graphql::Response::from_errors(vec![error]))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

async fn graphiql() -> Html<&'static str> {
    Html(include_str!("graphiql.html"))
}

/// Liveness: the process is up.
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: both pools can run `SELECT 1` within a second.
async fn readyz(State(state): State<HttpState>) -> impl IntoResponse {
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
