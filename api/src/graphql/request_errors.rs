//! Codes for the errors async-graphql reports without one: a document that does not parse
//! (`GRAPHQL_PARSE_FAILED`), one that is not valid against the schema or its variables
//! (`GRAPHQL_VALIDATION_FAILED`), the codes Apollo's servers use, and an argument or
//! variable that does not coerce when a field is resolved (`BAD_USER_INPUT`: async-graphql
//! parses scalars such as `DateTime` and `Decimal` there, not in validation). Every error
//! a client sees then has `extensions.code`.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ErrorExtensionValues, Response, ServerError, ServerResult, ValidationResult, Variables};

pub const PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
pub const VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";

/// async-graphql's messages for input that does not coerce while resolving.
const INPUT_ERRORS: [&str; 3] = ["Failed to parse ", "Variable ", "Invalid value for argument"];

#[derive(Default)]
pub struct RequestErrorCodes;

impl ExtensionFactory for RequestErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestErrorCodes)
    }
}

/// `error` with `extensions.code = code`, unless it has a code already.
pub fn with_code(mut error: ServerError, code: &str) -> ServerError {
    let extensions = error.extensions.get_or_insert_with(ErrorExtensionValues::default);
    if extensions.get("code").is_none() {
        extensions.set("code", code);
    }
    error
}

/// A document that does not parse: `GRAPHQL_PARSE_FAILED`, without the source snippet.
pub fn parse_error(mut error: ServerError) -> ServerError {
    error.message = without_snippet(&error.message);
    with_code(error, PARSE_FAILED)
}

/// An error raised while resolving: ours carry codes; async-graphql's own coercion errors
/// are the client's input; anything else without a code is a bug.
pub fn execution_error(error: ServerError) -> ServerError {
    if error.extensions.as_ref().is_some_and(|e| e.get("code").is_some()) {
        return error; // ours, coded where it was raised
    }
    let input = INPUT_ERRORS.iter().any(|prefix| error.message.starts_with(prefix));
    if !input {
        tracing::error!(message = %error.message, path = ?error.path, "an error without a code");
    }
    with_code(error, if input { "BAD_USER_INPUT" } else { "INTERNAL_SERVER_ERROR" })
}

/// The parser's message without the copy of the offending source line it includes: a
/// query of one 10 MB line would come back as a 10 MB error. What is left is the position
/// (also in `locations`) and what was expected.
fn without_snippet(message: &str) -> String {
    const MAX: usize = 500;
    if !message.contains('|') {
        return message.chars().take(MAX).collect();
    }
    let kept: Vec<&str> = message
        .lines()
        .map(str::trim)
        .filter_map(|line| line.strip_prefix("-->").or_else(|| line.strip_prefix("= ")))
        .map(str::trim)
        .collect();
    let text = if kept.is_empty() { "the query does not parse".to_owned() } else { kept.join(": ") };
    text.chars().take(MAX).collect()
}

#[async_graphql::async_trait::async_trait]
impl Extension for RequestErrorCodes {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        next.run(ctx, query, variables).await.map_err(parse_error)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| errors.into_iter().map(|e| with_code(e, VALIDATION_FAILED)).collect())
    }

    /// Errors raised while resolving (see [`execution_error`]).
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        for error in &mut response.errors {
            *error = execution_error(std::mem::replace(error, ServerError::new("", None)));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parse_errors_do_not_echo_the_query() {
        let line = format!("{{ {} ", "x ".repeat(10_000));
        let error = async_graphql::parser::parse_query(&line).expect_err("unclosed");
        let message = super::without_snippet(&error.to_string());
        assert!(message.len() < 200 && message.contains("1:"), "{message}");
        assert!(!message.contains("x x x"), "{message}");
    }
}
