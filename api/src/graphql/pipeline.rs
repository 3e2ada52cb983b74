//! How an HTTP request is executed: persisted queries, the document cache, the limits
//! and the error codes, applied around a schema that has no async-graphql extensions.
//!
//! Why not as extensions (the WebSocket endpoint's schema, `build_schema`, has them): with
//! any extension installed, async-graphql resolves every field through the extension
//! chain, whatever hooks the extensions implement: a `ResolveInfo` per field with a
//! registry lookup by type name, boxed futures, list type names formatted per item. On a
//! page of 20 runs that was ~14% of the server's throughput (wrk, newest 20 with metrics,
//! 8 connections, same binary, two rounds each: 2,363 and 2,568 req/s with the extensions,
//! 2,858 and 2,748 without). The steps the extensions took before execution are taken
//! here instead, by the same functions (`request_errors`, `limits`, `documents`).
//!
//! Validation: every request's variable values are checked first (`variables`). A
//! document's first request is then validated strictly (every rule of the GraphQL spec,
//! on `schema`); once one has passed, later requests with the same text run on `fast`,
//! the same schema in async-graphql's fast validation mode (fragment cycles, complexity
//! and depth only). Run by id: 502,053 → 445,979 instructions per request (−11%); a page of
//! runs −7% (`tearsheet-bench --instructions 200`).

use std::sync::Arc;

use async_graphql::extensions::apollo_persisted_queries::{CacheStorage as _, LruCacheStorage};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, Response, ServerError, ServerResult};
use sha2::{Digest as _, Sha256};

use super::AppSchema;
use super::direct::DirectObjects;
use super::documents::{Document, DocumentCache};
use super::limits::Limits;
use super::request_errors::{self, VALIDATION_FAILED};
use super::variables::{VariableCheck, Verdict};

/// Automatic persisted queries kept (parsed documents, by hash; least recently used go).
pub const PERSISTED_QUERIES: usize = 1_000;

#[derive(Clone)]
pub struct Executor {
    /// The schema, with the root-field spans extension only when traces are exported.
    schema: AppSchema,
    /// The same schema in fast validation mode, for documents validated once.
    fast: AppSchema,
    variables: Arc<VariableCheck>,
    limits: Arc<Limits>,
    documents: DocumentCache,
    persisted: LruCacheStorage,
}

#[derive(serde::Deserialize)]
struct PersistedQuery {
    version: i32,
    #[serde(rename = "sha256Hash")]
    sha256_hash: String,
}

impl Executor {
    /// `schema` and `fast` must be one schema built twice, the second with
    /// `ValidationMode::Fast`.
    pub fn new(schema: AppSchema, fast: AppSchema, limits: Limits) -> Executor {
        Executor {
            schema,
            fast,
            variables: Arc::new(VariableCheck::default()),
            limits: Arc::new(limits),
            documents: DocumentCache::default(),
            persisted: LruCacheStorage::new(PERSISTED_QUERIES),
        }
    }

    pub async fn execute(&self, mut request: Request) -> Response {
        let document = match self.document(&mut request).await {
            Ok(document) => document,
            Err(error) => return Response::from_errors(vec![error]),
        };
        let fits = match self.variables.check(&document.parsed, request.operation_name.as_deref(), &request.variables) {
            Verdict::Misfit(error) => {
                return Response::from_errors(vec![request_errors::with_code(error, VALIDATION_FAILED)]);
            }
            Verdict::Fits => true,
            Verdict::Unsure => false,
        };
        request.set_parsed_query(document.parsed.clone());
        if document.direct {
            request.data.insert(DirectObjects);
        }
        let mut response = if fits && document.validated() {
            self.fast.execute(request).await
        } else {
            let response = self.schema.execute(request).await;
            // Validation errors (and every other error raised before execution) have no
            // path; a request that had none passed every rule.
            if fits && response.errors.iter().all(|e| !e.path.is_empty()) {
                document.mark_validated();
            }
            response
        };
        for error in &mut response.errors {
            *error = self.code(std::mem::replace(error, ServerError::new("", None)));
        }
        response
    }

    /// The request's document: by its persisted-query hash (Apollo's protocol, as
    /// async-graphql's extension has it), else from its text; within the limits.
    async fn document(&self, request: &mut Request) -> ServerResult<Arc<Document>> {
        let document = match request.extensions.remove("persistedQuery") {
            None => self.documents.get_or_parse(&request.query, |query| self.parse(query))?,
            Some(value) => {
                let persisted: PersistedQuery = async_graphql::from_value(value)
                    .map_err(|_| ServerError::new("Invalid \"PersistedQuery\" extension configuration.", None))?;
                if persisted.version != 1 {
                    return Err(ServerError::new(
                        format!(
                            "Only the \"PersistedQuery\" extension of version \"1\" is supported, and the current \
                             version is \"{}\".",
                            persisted.version
                        ),
                        None,
                    ));
                }
                // Persisted documents are validated strictly every time (async-graphql's
                // store keeps no mark).
                if request.query.is_empty() {
                    Document::new(
                        self.persisted
                            .get(persisted.sha256_hash)
                            .await
                            .ok_or_else(|| ServerError::new("PersistedQueryNotFound", None))?,
                    )
                } else {
                    let hash = format!("{:x}", Sha256::digest(request.query.as_bytes()));
                    if persisted.sha256_hash != hash {
                        return Err(ServerError::new("provided sha does not match query", None));
                    }
                    let document = self.parse(&request.query)?;
                    self.persisted.set(hash, document.clone()).await;
                    Document::new(document)
                }
            }
        };
        self.limits.check_document(&document.parsed).map_err(request_errors::parse_error)?;
        Ok(document)
    }

    fn parse(&self, query: &str) -> ServerResult<ExecutableDocument> {
        async_graphql::parser::parse_query(query)
            .map_err(|e| request_errors::parse_error(self.limits.rewrite(ServerError::from(e))))
    }

    /// Gives an error of the executed request its code. Errors with a path were raised
    /// resolving a field; without one, async-graphql stopped the request before execution:
    /// the parser's guards it runs on our document (recursion depth, directives), the
    /// choice of operation (left to `endpoint::settle`: a bad request), or validation.
    fn code(&self, error: ServerError) -> ServerError {
        if !error.path.is_empty() {
            return request_errors::execution_error(error);
        }
        if error.message.starts_with("Unknown operation named")
            || error.message == "Operation name required in request."
        {
            return error;
        }
        let parser_guard =
            error.message.starts_with("The recursion depth") || error.message.starts_with("The number of directives");
        let error = self.limits.rewrite(error);
        if parser_guard {
            request_errors::parse_error(error)
        } else {
            request_errors::with_code(error, VALIDATION_FAILED)
        }
    }
}
