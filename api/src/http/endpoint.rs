//! `/graphql` as the GraphQL-over-HTTP spec has it: requests by POST (`application/json`)
//! or by GET (queries only, parameters in the URL), answers in the media type the client
//! accepts, with the status codes that media type calls for.
//!
//! async-graphql-axum's extractor gets several of these wrong (see the field notes): it
//! runs mutations sent by GET, reads any POST body as JSON (a `text/plain` POST is a
//! browser "simple request", so a cross-site request forgery vector), answers
//! `application/graphql-response+json` to clients that asked for `application/json` and
//! uses 200 for requests that could not be executed at all. So this module decodes and
//! encodes itself and leaves execution to the schema.

use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{ServerError, Variables};
use axum::body::{Body, Bytes};
use axum::http::header::{ACCEPT, ALLOW, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::graphql::request_errors::with_code;

/// Codes of request errors that neither the parser nor the validator (see
/// `graphql::request_errors`) gave one: refused requests, unknown operation names, an
/// automatic persisted query the server does not hold (Apollo's clients then send the text).
const BAD_REQUEST: &str = "BAD_REQUEST";
const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";

/// The two media types a GraphQL response can be sent as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaType {
    /// `application/graphql-response+json`: status codes tell request errors (400) from
    /// executed requests (200).
    GraphqlResponse,
    /// `application/json`, the legacy type: 200 for every well-formed request.
    Json,
}

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

impl MediaType {
    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            MediaType::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
            MediaType::Json => "application/json; charset=utf-8",
        })
    }

    /// The type to answer in, from the request's `Accept`; `None` when the client accepts
    /// neither (406). No header, or only wildcards, means `application/json`, as the spec
    /// asks of servers while clients move to the new type; the new type is used when the
    /// client names it at least as highly as `application/json`.
    pub fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
        let Some(accept) = headers.get(ACCEPT).and_then(|v| v.to_str().ok()).filter(|a| !a.trim().is_empty()) else {
            return Some(MediaType::Json);
        };
        let (mut graphql, mut json, mut wildcard) = (None::<f32>, None::<f32>, None::<f32>);
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()))
                .next()
                .unwrap_or(1.0);
            let slot = match essence.as_str() {
                GRAPHQL_RESPONSE => &mut graphql,
                JSON => &mut json,
                "*/*" | "application/*" => &mut wildcard,
                _ => continue,
            };
            *slot = Some(slot.map_or(q, |old| old.max(q)));
        }
        let json = json.or(wildcard).filter(|q| *q > 0.0);
        match (graphql.filter(|q| *q > 0.0), json) {
            (Some(g), Some(j)) if g >= j => Some(MediaType::GraphqlResponse),
            (Some(_), None) => Some(MediaType::GraphqlResponse),
            (_, Some(_)) => Some(MediaType::Json),
            (None, None) => None,
        }
    }
}

/// A request refused before execution: its status and its one error.
#[derive(Debug)]
pub struct Refusal {
    status: StatusCode,
    /// Boxed: refusals are rare, and `Result`s carrying them stay small.
    error: Box<ServerError>,
}

impl Refusal {
    /// The HTTP status this refusal is answered with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The refusal's `extensions.code`.
    pub fn code(&self) -> &str {
        match self.error.extensions.as_ref().and_then(|e| e.get("code")) {
            Some(async_graphql::Value::String(code)) => code,
            _ => BAD_REQUEST,
        }
    }

    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Refusal { status, error: Box::new(with_code(ServerError::new(message, None), code)) }
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Refusal::new(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Refusal::new(StatusCode::BAD_REQUEST, BAD_REQUEST, message)
    }

    /// The error a resolver would give (same message and `extensions`), refused at the door.
    pub fn from_api_error(status: StatusCode, err: crate::error::ApiError) -> Self {
        let error = ServerError {
            locations: Vec::new(),
            ..async_graphql::Error::from(err).into_server_error(Default::default())
        };
        Refusal { status, error: Box::new(error) }
    }

    /// The response, in `media` (or `application/json` when the client accepts nothing
    /// of ours: the error must still be readable).
    pub fn into_response(self, media: Option<MediaType>) -> Response {
        let body = serde_json::json!({ "errors": [self.error] });
        let mut response = (self.status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, media.unwrap_or(MediaType::Json).content_type());
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            headers.insert(ALLOW, HeaderValue::from_static("POST"));
        }
        response
    }
}

/// A request that ran past `--request-timeout-ms`.
pub fn timed_out(timeout: std::time::Duration) -> Refusal {
    Refusal::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "TIMEOUT",
        format!("the request took longer than {} ms and was stopped; try a smaller request", timeout.as_millis()),
    )
}

/// A request whose execution failed outside GraphQL (its task panicked).
pub fn internal() -> Refusal {
    Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR", "the request failed; see the server's log")
}

pub fn not_acceptable() -> Refusal {
    Refusal::new(
        StatusCode::NOT_ACCEPTABLE,
        "NOT_ACCEPTABLE",
        format!("this endpoint answers in {GRAPHQL_RESPONSE} or {JSON}; the Accept header allows neither"),
    )
}

/// The parameters of a GraphQL request, from a JSON body or a URL.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Params {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<Variables>,
    extensions: Option<serde_json::Map<String, serde_json::Value>>,
}

impl Params {
    fn into_request(self) -> Result<async_graphql::Request, Refusal> {
        let extensions = self.extensions.unwrap_or_default();
        // With automatic persisted queries a request may carry the query's hash alone.
        let query = match self.query {
            Some(query) => query,
            None if extensions.contains_key("persistedQuery") => String::new(),
            None => {
                return Err(Refusal::bad_request(
                    "the request has no query: send {\"query\": \"…\"} (or open this URL in a browser for GraphiQL)",
                ));
            }
        };
        let mut request = async_graphql::Request::new(query).variables(self.variables.unwrap_or_default());
        if let Some(name) = self.operation_name {
            request = request.operation_name(name);
        }
        for (key, value) in extensions {
            let value = async_graphql::Value::from_json(value)
                .map_err(|e| Refusal::bad_request(format!("extensions.{key} is not valid: {e}")))?;
            request.extensions.insert(key, value);
        }
        Ok(request)
    }
}

/// A POST: the body must be JSON (`application/json`), at most `max_body` bytes.
///
/// Anything else is refused with 415 before the body is read. That includes the types a
/// browser sends cross-site without asking the server first (`text/plain`, form types):
/// refusing them is the CSRF protection Apollo Router applies.
pub async fn decode_post(headers: &HeaderMap, body: Body, max_body: usize) -> Result<async_graphql::Request, Refusal> {
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let mut parts = content_type.split(';');
    let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    if essence != JSON {
        let given = if content_type.is_empty() { "none".to_owned() } else { format!("{content_type:?}") };
        return Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            format!("POST a JSON body with Content-Type: {JSON} (got {given})"),
        ));
    }
    let charset =
        parts.filter_map(|p| p.trim().to_ascii_lowercase().strip_prefix("charset=").map(str::to_owned)).next();
    if charset.is_some_and(|c| c.trim_matches('"') != "utf-8") {
        return Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "the body must be UTF-8 (charset=utf-8)",
        ));
    }
    let too_large = || {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("the request body is larger than {max_body} bytes (--max-body-bytes)"),
        )
    };
    let declared = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max_body as u64) {
        return Err(too_large());
    }
    let bytes: Bytes = axum::body::to_bytes(body, max_body).await.map_err(|e| {
        // Over the limit, or the client went away mid-body.
        if std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>()) {
            too_large()
        } else {
            Refusal::bad_request(format!("could not read the request body: {e}"))
        }
    })?;
    decode_json_body(&bytes)
}

/// A POST's body, read: one GraphQL request as a JSON object.
pub fn decode_json_body(bytes: &[u8]) -> Result<async_graphql::Request, Refusal> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(Refusal::bad_request(
            "batched requests (a JSON array) are not supported: send one request per POST",
        ));
    }
    let params: Params = serde_json::from_slice(bytes)
        .map_err(|e| Refusal::bad_request(format!("the body is not a GraphQL request in JSON: {e}")))?;
    params.into_request()
}

/// A GET: the parameters are in the URL (`variables` and `extensions` as JSON text), and
/// only queries may be sent this way: a GET must not change anything (405 otherwise).
pub fn decode_get(raw_query: Option<&str>) -> Result<async_graphql::Request, Refusal> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct UrlParams {
        query: Option<String>,
        operation_name: Option<String>,
        variables: Option<String>,
        extensions: Option<String>,
    }
    let url: UrlParams = serde_urlencoded::from_str(raw_query.unwrap_or_default())
        .map_err(|e| Refusal::bad_request(format!("the URL's parameters are not valid: {e}")))?;
    let json = |name: &str, text: Option<String>| -> Result<Option<serde_json::Value>, Refusal> {
        text.filter(|t| !t.is_empty())
            .map(|t| serde_json::from_str(&t))
            .transpose()
            .map_err(|e| Refusal::bad_request(format!("{name} must be JSON in the URL: {e}")))
    };
    let params = Params {
        query: url.query,
        operation_name: url.operation_name.filter(|n| !n.is_empty()),
        variables: json("variables", url.variables)?
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| Refusal::bad_request(format!("variables must be a JSON object: {e}")))?,
        extensions: json("extensions", url.extensions)?
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| Refusal::bad_request(format!("extensions must be a JSON object: {e}")))?,
    };
    let request = params.into_request()?;
    if is_mutation(&request) {
        return Err(Refusal::method_not_allowed("mutations must be sent by POST; GET is for queries only"));
    }
    Ok(request)
}

/// Whether the operation the request would run is not a query. A document that does not
/// parse, or names no such operation, is left for execution to report.
pub fn is_mutation(request: &async_graphql::Request) -> bool {
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else { return false };
    let ty = match (&document.operations, request.operation_name.as_deref()) {
        (DocumentOperations::Single(op), _) => Some(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next().map(|op| op.node.ty),
        (DocumentOperations::Multiple(_), None) => None,
    };
    ty.is_some_and(|ty| ty != OperationType::Query)
}

/// Whether `response` answers a request error (one that stopped the request before
/// execution: it does not parse, is not valid, its variables do not fit, it names no
/// operation): `data: null` and errors without a path. Gives such errors their code.
pub fn settle(response: &mut async_graphql::Response) -> bool {
    let request_error = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    if request_error {
        for error in &mut response.errors {
            let code = if error.message == "PersistedQueryNotFound" { PERSISTED_QUERY_NOT_FOUND } else { BAD_REQUEST };
            *error = with_code(std::mem::replace(error, ServerError::new("", None)), code);
        }
    }
    request_error
}

/// The executed request's response in `media`. A request error (see [`settle`]) is
/// answered 400 and without `data` with the new media type, as the spec asks, and 200
/// with `application/json`. Every error gets a code.
pub fn encode(mut response: async_graphql::Response, media: MediaType) -> Response {
    let request_error = settle(&mut response);
    let status =
        if request_error && media == MediaType::GraphqlResponse { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let body = if request_error {
        serde_json::to_vec(&serde_json::json!({ "errors": response.errors }))
    } else {
        super::json::response(&response)
    };
    let body = match body {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %e, "serializing a response failed");
            return Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR", "internal error")
                .into_response(Some(media));
        }
    };
    let mut http = (status, body).into_response();
    http.headers_mut().extend(response.http_headers);
    http.headers_mut().insert(CONTENT_TYPE, media.content_type());
    http
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Option<MediaType> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_str(value).expect("header"));
        MediaType::negotiate(&headers)
    }

    #[test]
    fn the_media_type_follows_accept() {
        assert_eq!(MediaType::negotiate(&HeaderMap::new()), Some(MediaType::Json));
        assert_eq!(accept("*/*"), Some(MediaType::Json));
        assert_eq!(accept("application/json"), Some(MediaType::Json));
        assert_eq!(accept("application/graphql-response+json"), Some(MediaType::GraphqlResponse));
        assert_eq!(
            accept("application/graphql-response+json, application/json;q=0.9"),
            Some(MediaType::GraphqlResponse)
        );
        assert_eq!(accept("application/graphql-response+json;q=0.5, application/json"), Some(MediaType::Json));
        assert_eq!(accept("text/html"), None);
        assert_eq!(accept("application/json;q=0"), None);
    }

    #[test]
    fn get_refuses_mutations_but_not_queries() {
        let refused = decode_get(Some("query=mutation%20%7B%20x%20%7D")).expect_err("a mutation");
        assert_eq!(refused.status, StatusCode::METHOD_NOT_ALLOWED);
        let named = "query=query%20A%7Bx%7D%20mutation%20B%7Bx%7D&operationName=B";
        assert_eq!(decode_get(Some(named)).expect_err("B is a mutation").status, StatusCode::METHOD_NOT_ALLOWED);
        let ok = decode_get(Some(
            "query=query%20A%7Bx%7D%20mutation%20B%7Bx%7D&operationName=A&variables=%7B%22a%22%3A1%7D",
        ))
        .expect("A is a query");
        assert_eq!(ok.variables.get(&async_graphql::Name::new("a")), Some(&async_graphql::Value::from(1)));
        assert_eq!(
            decode_get(Some("query={x}&variables=[1]")).expect_err("not an object").status,
            StatusCode::BAD_REQUEST
        );
    }
}
