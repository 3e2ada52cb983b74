//! Bounded work per request: how deep, how costly, how many aliases and root fields a
//! query may have, and whether introspection is on. A refused query gets
//! `extensions.code = "LIMIT_EXCEEDED"` with `extensions.limit` (the setting) and
//! `extensions.max` (its value), before anything is resolved.
//!
//! Depth and complexity are async-graphql's own checks (run with validation; their
//! messages are rewritten here to say which limit). Complexity counts 1 per field, and a
//! connection's or a list argument's fields once per item it may return (`first`/`last`,
//! `pageSize`, the ids compared: see [`page_cost`]), so `first: 100` nested twice costs
//! 10,000× its fields. Aliases and root fields are counted here on the parsed document:
//! async-graphql has no such limits.

use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextValidation};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ErrorExtensionValues, ServerError, ServerResult, ValidationResult, Variables};

pub const LIMIT_EXCEEDED: &str = "LIMIT_EXCEEDED";

/// Directives on one field: `@include` and `@skip` are all a client needs.
const MAX_DIRECTIVES: usize = 8;

/// The limits, from `--max-*` and `--no-introspection`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    pub max_root_fields: usize,
    pub introspection: bool,
}

impl Default for Limits {
    /// The command line's defaults: generous for every dashboard query and GraphiQL's own
    /// introspection query.
    fn default() -> Self {
        crate::config::LimitsArgs::default().graphql()
    }
}

/// What a connection or page of `first`/`last`/`pageSize` items multiplies its fields by:
/// the page size the resolver will use (20 when not given), capped at its maximum of 100
/// (a larger value is refused by the resolver anyway).
pub fn page_cost(size: Option<i32>) -> usize {
    usize::try_from(size.unwrap_or(20).clamp(1, 100)).unwrap_or(100)
}

fn limit_error(message: String, limit: &str, max: usize) -> ServerError {
    let mut error = ServerError::new(message, None);
    let extensions = error.extensions.get_or_insert_with(ErrorExtensionValues::default);
    extensions.set("code", LIMIT_EXCEEDED);
    extensions.set("limit", limit);
    extensions.set("max", max as u64);
    error
}

impl Limits {
    /// Applies the limits async-graphql checks itself.
    pub fn apply<Q, M, S>(
        &self,
        builder: async_graphql::SchemaBuilder<Q, M, S>,
    ) -> async_graphql::SchemaBuilder<Q, M, S> {
        let builder =
            builder.limit_depth(self.max_depth).limit_complexity(self.max_complexity).limit_directives(MAX_DIRECTIVES);
        if self.introspection { builder } else { builder.disable_introspection() }
    }

    pub fn check_document(&self, document: &ExecutableDocument) -> ServerResult<()> {
        let aliases = count_aliases(document);
        if aliases > self.max_aliases {
            return Err(limit_error(
                format!("the query has {aliases} aliases; at most {} are allowed (--max-aliases)", self.max_aliases),
                "maxAliases",
                self.max_aliases,
            ));
        }
        let operations: Vec<&SelectionSet> = match &document.operations {
            DocumentOperations::Single(op) => vec![&op.node.selection_set.node],
            DocumentOperations::Multiple(ops) => ops.values().map(|op| &op.node.selection_set.node).collect(),
        };
        for selection_set in operations {
            let mut names = Vec::new();
            root_fields(document, selection_set, &mut HashSet::new(), &mut names);
            if names.len() > self.max_root_fields {
                return Err(limit_error(
                    format!(
                        "an operation selects {} root fields; at most {} are allowed (--max-root-fields)",
                        names.len(),
                        self.max_root_fields
                    ),
                    "maxRootFields",
                    self.max_root_fields,
                ));
            }
            // With introspection off async-graphql answers `__schema` with null; say why.
            if !self.introspection && names.iter().any(|n| *n == "__schema" || *n == "__type") {
                let mut error = ServerError::new("introspection is disabled on this server", None);
                error
                    .extensions
                    .get_or_insert_with(ErrorExtensionValues::default)
                    .set("code", "INTROSPECTION_DISABLED");
                return Err(error);
            }
        }
        Ok(())
    }

    /// async-graphql's messages for the limits, in our words (with the flag to change).
    pub fn rewrite(&self, error: ServerError) -> ServerError {
        let message = error.message.as_str();
        // The parser's own guards (nesting beyond 32 selection sets, fragments included;
        // its recursion and stack limits) trip only far past the depth limit.
        if message.starts_with("The recursion depth of the query")
            || message == "recursion limit exceeded."
            || message.contains("stack limit reached")
        {
            return limit_error(
                format!("the query is nested deeper than {} levels (--max-depth)", self.max_depth),
                "maxDepth",
                self.max_depth,
            );
        }
        if message.starts_with("The number of directives") {
            return limit_error(
                format!("a field has more than {MAX_DIRECTIVES} directives"),
                "maxDirectives",
                MAX_DIRECTIVES,
            );
        }
        match message {
            "Query is nested too deep." => limit_error(
                format!("the query is nested deeper than {} levels (--max-depth)", self.max_depth),
                "maxDepth",
                self.max_depth,
            ),
            "Query is too complex." => limit_error(
                format!(
                    "the query's complexity is over {} (--max-complexity): each field counts 1, and a \
                     connection's fields count once per item it may return (first/last, default 20)",
                    self.max_complexity
                ),
                "maxComplexity",
                self.max_complexity,
            ),
            _ => error,
        }
    }
}

/// Every alias written in the document, fragments included (each counted once).
fn count_aliases(document: &ExecutableDocument) -> usize {
    fn in_set(set: &SelectionSet) -> usize {
        set.items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(field) => {
                    usize::from(field.node.alias.is_some()) + in_set(&field.node.selection_set.node)
                }
                Selection::InlineFragment(inline) => in_set(&inline.node.selection_set.node),
                Selection::FragmentSpread(_) => 0,
            })
            .sum()
    }
    let operations: usize = match &document.operations {
        DocumentOperations::Single(op) => in_set(&op.node.selection_set.node),
        DocumentOperations::Multiple(ops) => ops.values().map(|op| in_set(&op.node.selection_set.node)).sum(),
    };
    operations + document.fragments.values().map(|f| in_set(&f.node.selection_set.node)).sum::<usize>()
}

/// The response keys an operation's root selects, through fragments (each fragment
/// entered once: a cycle is validation's to report).
fn root_fields<'a>(
    document: &'a ExecutableDocument,
    set: &'a SelectionSet,
    entered: &mut HashSet<&'a str>,
    names: &mut Vec<&'a str>,
) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => names.push(field.node.name.node.as_str()),
            Selection::InlineFragment(inline) => root_fields(document, &inline.node.selection_set.node, entered, names),
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                if entered.insert(name)
                    && let Some(fragment) = document.fragments.get(name)
                {
                    root_fields(document, &fragment.node.selection_set.node, entered, names);
                }
            }
        }
    }
}

pub struct LimitsExtension(pub Arc<Limits>);

impl ExtensionFactory for LimitsExtension {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(LimitsExtension(Arc::clone(&self.0)))
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for LimitsExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await.map_err(|e| self.0.rewrite(e))?;
        self.0.check_document(&document)?;
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| errors.into_iter().map(|e| self.0.rewrite(e)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(limits: &Limits, query: &str) -> Result<(), String> {
        let document = async_graphql::parser::parse_query(query).expect("parses");
        limits.check_document(&document).map_err(|e| e.message)
    }

    #[test]
    fn aliases_and_root_fields_are_counted_through_fragments() {
        let limits = Limits { max_aliases: 2, max_root_fields: 2, ..Limits::default() };
        assert!(check(&limits, "{ a: x b: x }").is_ok());
        let three = check(&limits, "{ a: x ...F } fragment F on Query { b: y c: y }").expect_err("3 aliases");
        assert!(three.contains("3 aliases") && three.contains("--max-aliases"), "{three}");
        let roots =
            check(&limits, "{ x ... on Query { y } ...F } fragment F on Query { z ...F }").expect_err("3 roots");
        assert!(roots.contains("3 root fields"), "{roots}");
    }

    #[test]
    fn introspection_off_is_an_error_not_a_null() {
        let off = Limits { introspection: false, ..Limits::default() };
        assert!(check(&off, "{ __schema { types { name } } }").is_err());
        assert!(check(&off, "{ __typename }").is_ok());
        assert!(check(&Limits::default(), "{ __schema { types { name } } }").is_ok());
    }

    #[test]
    fn page_cost_is_the_page_size_the_resolver_uses() {
        assert_eq!((page_cost(None), page_cost(Some(5)), page_cost(Some(1000)), page_cost(Some(-3))), (20, 5, 100, 1));
    }
}
