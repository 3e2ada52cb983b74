//! Parsed documents, cached: dashboards and clients send the same few query texts over
//! and over, and parsing one (async-graphql's pest parser) was a tenth of the server's
//! CPU on a page of runs. Each remembers whether it has passed strict validation: from
//! then on only its variables need checking (`variables`, `pipeline`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ServerResult, Variables};

/// Documents kept; when full, the cache starts over (a client sending ever-new texts
/// gains nothing from it, and must not grow it without bound).
const CAPACITY: usize = 1_000;
/// Longer query texts are parsed every time (and not kept).
const MAX_QUERY_BYTES: usize = 16 * 1024;

#[derive(Clone, Default)]
pub struct DocumentCache {
    documents: Arc<Mutex<HashMap<String, Arc<Document>>>>,
}

/// A parsed document, whether it has passed strict validation, and whether its responses
/// may hold objects written as JSON text (`direct`).
pub struct Document {
    pub parsed: ExecutableDocument,
    validated: AtomicBool,
    pub direct: bool,
}

impl Document {
    pub fn new(parsed: ExecutableDocument) -> Arc<Document> {
        let direct = super::direct::merges_no_objects(&parsed);
        Arc::new(Document { parsed, validated: AtomicBool::new(false), direct })
    }

    /// Whether a request with this document has passed async-graphql's strict validation
    /// (the rules that look at the document alone hold for every later request).
    pub fn validated(&self) -> bool {
        self.validated.load(Ordering::Relaxed)
    }

    pub fn mark_validated(&self) {
        self.validated.store(true, Ordering::Relaxed);
    }
}

impl DocumentCache {
    /// The document of `query`: cached, or parsed by `parse` (and cached when it parses).
    pub fn get_or_parse(
        &self,
        query: &str,
        parse: impl FnOnce(&str) -> ServerResult<ExecutableDocument>,
    ) -> ServerResult<Arc<Document>> {
        if let Some(document) = self.lookup(query) {
            return Ok(document);
        }
        let document = Document::new(parse(query)?);
        self.store(query, &document);
        Ok(document)
    }

    fn lookup(&self, query: &str) -> Option<Arc<Document>> {
        self.documents.lock().ok().and_then(|d| d.get(query).cloned())
    }

    fn store(&self, query: &str, document: &Arc<Document>) {
        // An empty text is a persisted query's, parsed already: nothing to cache by it.
        if query.is_empty() || query.len() > MAX_QUERY_BYTES {
            return;
        }
        if let Ok(mut documents) = self.documents.lock() {
            if documents.len() >= CAPACITY {
                documents.clear();
            }
            documents.insert(query.to_owned(), Arc::clone(document));
        }
    }
}

impl ExtensionFactory for DocumentCache {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

/// For the WebSocket endpoint's schema (HTTP requests use `get_or_parse`, see `pipeline`).
#[async_graphql::async_trait::async_trait]
impl Extension for DocumentCache {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if let Some(document) = self.lookup(query) {
            return Ok(document.parsed.clone());
        }
        let parsed = next.run(ctx, query, variables).await?;
        self.store(query, &Document::new(parsed.clone()));
        Ok(parsed)
    }
}
