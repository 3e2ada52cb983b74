//! The request's variable values, checked against the types the selected operation
//! declares for them, before anything runs; and what lets a document that passed
//! async-graphql's strict validation once skip it afterwards.
//!
//! Why check here: async-graphql's validation checks a variable's value only where it is
//! passed as an argument, and leniently (a string for an input object passes, and then
//! fails while resolving as an internal error); a missing required variable fails while
//! resolving too. Here every variable is checked as the GraphQL spec coerces variable
//! values, and a misfit is a request error (`GRAPHQL_VALIDATION_FAILED`, status 400) that
//! names the variable and the place in its value.
//!
//! Why skip validation: strict validation visits the whole document with two dozen rules
//! on every request (a run by id: 15% of the server's instructions, a page of runs 9%),
//! yet all it checks depends on the document alone, but for the variables' values. So a
//! cached document that validated once runs on a schema in async-graphql's fast mode
//! (which keeps the complexity and depth limits) once its variables fit.
//!
//! Where the check cannot tell (an operation it cannot pick, a type it does not know) it
//! says [`Verdict::Unsure`] and the request takes the strict path, which reports what is
//! wrong with the document.

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationDefinition};
use async_graphql::registry::{MetaType, MetaTypeName, Registry};
use async_graphql::{OutputType as _, ServerError, SubscriptionType as _, Value as ConstValue, Variables};

use super::{Mutation, Query, live::Subscription};

/// The schema's input types, as async-graphql registers them.
pub struct VariableCheck {
    registry: Registry,
}

#[derive(Debug)]
pub enum Verdict {
    /// Every variable of the operation has a value of its type (given, or its default).
    Fits,
    /// A variable's value does not fit its type: the request error.
    Misfit(ServerError),
    /// An operation or a type the check cannot tell about: strict validation decides.
    Unsure,
}

/// Why a value does not fit, and where in it (innermost segment first while unwinding).
enum Problem {
    Unsure,
    Invalid { path: Vec<Segment>, reason: String },
}

enum Segment {
    Field(String),
    Index(usize),
}

impl Problem {
    fn invalid(reason: String) -> Problem {
        Problem::Invalid { path: Vec::new(), reason }
    }

    fn at(mut self, segment: Segment) -> Problem {
        if let Problem::Invalid { path, .. } = &mut self {
            path.push(segment);
        }
        self
    }
}

impl Default for VariableCheck {
    fn default() -> Self {
        // The registry of the root types' fields: every type an argument (hence a
        // variable) can have. Federation's `_Any` is not in it: requests naming it take
        // the strict path.
        let mut registry = Registry::default();
        Query::create_type_info(&mut registry);
        Mutation::create_type_info(&mut registry);
        Subscription::create_type_info(&mut registry);
        VariableCheck { registry }
    }
}

impl VariableCheck {
    pub fn check(&self, document: &ExecutableDocument, operation_name: Option<&str>, variables: &Variables) -> Verdict {
        let Some(operation) = select(document, operation_name) else { return Verdict::Unsure };
        for definition in &operation.variable_definitions {
            let definition = &definition.node;
            let name = definition.name.node.as_str();
            let ty = definition.var_type.node.to_string();
            let problem = match variables.get(&definition.name.node) {
                Some(value) => self.fits(&ty, value).err(),
                // Absent: its default (checked with the document), or null when it may be.
                None if definition.default_value.is_some() || definition.var_type.node.nullable => None,
                None => {
                    let message = format!("Variable \"${name}\" of required type \"{ty}\" was not provided.");
                    return Verdict::Misfit(ServerError::new(message, Some(definition.name.pos)));
                }
            };
            match problem {
                None => {}
                Some(Problem::Unsure) => return Verdict::Unsure,
                Some(Problem::Invalid { mut path, reason }) => {
                    path.reverse();
                    let message = if path.is_empty() {
                        format!("Variable \"${name}\" got an invalid value: {reason}.")
                    } else {
                        let mut at = name.to_owned();
                        for segment in path {
                            match segment {
                                Segment::Field(field) => {
                                    at.push('.');
                                    at.push_str(&field);
                                }
                                Segment::Index(i) => at.push_str(&format!("[{i}]")),
                            }
                        }
                        format!("Variable \"${name}\" got an invalid value at \"{at}\": {reason}.")
                    };
                    return Verdict::Misfit(ServerError::new(message, Some(definition.name.pos)));
                }
            }
        }
        Verdict::Fits
    }

    /// A value of a type as the registry writes it (`[ID!]!`); lists take a single value
    /// as a list of one.
    fn fits(&self, ty: &str, value: &ConstValue) -> Result<(), Problem> {
        match MetaTypeName::create(ty) {
            MetaTypeName::NonNull(inner) => match value {
                ConstValue::Null => Err(Problem::invalid(format!("expected a value of type \"{ty}\", found null"))),
                _ => self.fits(inner, value),
            },
            MetaTypeName::List(item) => match value {
                ConstValue::Null => Ok(()),
                ConstValue::List(items) => items
                    .iter()
                    .enumerate()
                    .try_for_each(|(i, v)| self.fits(item, v).map_err(|p| p.at(Segment::Index(i)))),
                _ => self.fits(item, value),
            },
            MetaTypeName::Named(_) if matches!(value, ConstValue::Null) => Ok(()),
            MetaTypeName::Named(name) => self.named_fits(name, value),
        }
    }

    /// A non-null value of a named type.
    fn named_fits(&self, name: &str, value: &ConstValue) -> Result<(), Problem> {
        let expected = || Problem::invalid(format!("expected a value of type \"{name}\", found {}", shown(value)));
        match self.registry.types.get(name) {
            Some(MetaType::Scalar { is_valid, .. }) => {
                if is_valid.as_ref().is_none_or(|valid| valid(value)) {
                    Ok(())
                } else {
                    Err(expected())
                }
            }
            Some(MetaType::Enum { enum_values, .. }) => match value {
                ConstValue::Enum(v) if enum_values.contains_key(v.as_str()) => Ok(()),
                ConstValue::String(v) if enum_values.contains_key(v.as_str()) => Ok(()),
                ConstValue::Enum(_) | ConstValue::String(_) => {
                    Err(Problem::invalid(format!("\"{name}\" has no value {}", shown(value))))
                }
                _ => Err(expected()),
            },
            Some(MetaType::InputObject { input_fields, oneof, .. }) => {
                let ConstValue::Object(fields) = value else { return Err(expected()) };
                if let Some(key) = fields.keys().find(|key| !input_fields.contains_key(key.as_str())) {
                    return Err(Problem::invalid(format!("\"{name}\" has no field \"{key}\"")));
                }
                if *oneof && (fields.len() != 1 || fields.values().any(|v| matches!(v, ConstValue::Null))) {
                    return Err(Problem::invalid(format!("\"{name}\" takes exactly one field, not null")));
                }
                for field in input_fields.values() {
                    match fields.get(field.name.as_str()) {
                        Some(v) => self.fits(&field.ty, v).map_err(|p| p.at(Segment::Field(field.name.clone())))?,
                        None if field.default_value.is_some() || !MetaTypeName::create(&field.ty).is_non_null() => {}
                        None => {
                            return Err(Problem::invalid(format!(
                                "field \"{}\" of required type \"{}\" was not provided",
                                field.name, field.ty
                            )));
                        }
                    }
                }
                Ok(())
            }
            // An output type, or one this registry does not have.
            _ => Err(Problem::Unsure),
        }
    }
}

/// A value as an error message shows it: JSON, cut short.
fn shown(value: &ConstValue) -> String {
    const MAX: usize = 100;
    let text = value.to_string();
    if text.len() <= MAX {
        return text;
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The operation async-graphql would run, when that is plain.
fn select<'a>(document: &'a ExecutableDocument, name: Option<&str>) -> Option<&'a OperationDefinition> {
    match (&document.operations, name) {
        (DocumentOperations::Single(operation), None) => Some(&operation.node),
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name).map(|o| &o.node),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next().map(|o| &o.node)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(query: &str, variables: serde_json::Value) -> Verdict {
        let document = async_graphql::parser::parse_query(query).expect("parses");
        VariableCheck::default().check(&document, None, &Variables::from_json(variables))
    }

    fn fits(query: &str, variables: serde_json::Value) -> bool {
        matches!(verdict(query, variables), Verdict::Fits)
    }

    fn misfit(query: &str, variables: serde_json::Value) -> String {
        match verdict(query, variables) {
            Verdict::Misfit(error) => error.message,
            other => panic!("not a misfit: {other:?}"),
        }
    }

    const PAGE: &str = "query($first: Int, $filter: BacktestRunFilter, $order: BacktestRunOrder) \
                        { backtestRuns(first: $first, filter: $filter, orderBy: $order) { totalCount } }";

    #[test]
    fn values_of_their_types_fit() {
        assert!(fits(PAGE, serde_json::json!({})));
        assert!(fits(
            PAGE,
            serde_json::json!({"first": 20, "filter": {"status": "SUCCESS"}, "order": {"field": "SHARPE_RATIO", "direction": "DESC"}})
        ));
        assert!(fits(
            PAGE,
            serde_json::json!({"filter": {"instrumentSymbol": "BTCUSDT", "createdAfter": "2024-01-01T00:00:00Z"}, "order": null})
        ));
        let by_ids = "query($ids: [ID!]!) { compareBacktestRuns(ids: $ids) { __typename } }";
        assert!(fits(by_ids, serde_json::json!({"ids": ["a", "b"]})));
        // A single value stands for a list of one, as in strict validation.
        assert!(fits(by_ids, serde_json::json!({"ids": "a"})));
    }

    #[test]
    fn values_strict_validation_would_refuse_do_not_fit() {
        assert!(!fits(PAGE, serde_json::json!({"first": "twenty"})));
        assert!(!fits(PAGE, serde_json::json!({"order": {"field": "SIDEWAYS", "direction": "DESC"}})));
        assert!(!fits(PAGE, serde_json::json!({"order": {"field": "SHARPE_RATIO"}})), "a required field is missing");
        assert!(!fits(PAGE, serde_json::json!({"filter": {"status": "DONE"}})));
        assert!(!fits(PAGE, serde_json::json!({"filter": {"strategy": "x"}})), "unknown field");
        assert!(!fits(PAGE, serde_json::json!({"filter": "status"})));
        let by_ids = "query($ids: [ID!]!) { compareBacktestRuns(ids: $ids) { __typename } }";
        assert!(!fits(by_ids, serde_json::json!({})), "a required variable is missing");
        assert!(!fits(by_ids, serde_json::json!({"ids": null})));
        assert!(!fits(by_ids, serde_json::json!({"ids": ["a", null]})));
    }

    #[test]
    fn operations_it_cannot_pick_do_not_fit() {
        let two = "query A { backtestRuns { totalCount } } query B { backtestRuns { totalCount } }";
        let document = async_graphql::parser::parse_query(two).expect("parses");
        let check = VariableCheck::default();
        assert!(matches!(check.check(&document, None, &Variables::default()), Verdict::Unsure));
        assert!(matches!(check.check(&document, Some("B"), &Variables::default()), Verdict::Fits));
        assert!(matches!(check.check(&document, Some("C"), &Variables::default()), Verdict::Unsure));
        // Types the registry lacks (misspelled, or output types) are strict validation's.
        assert!(matches!(verdict("query($x: Nope) { __typename }", serde_json::json!({"x": 1})), Verdict::Unsure));
    }

    #[test]
    fn misfits_name_the_variable_and_the_place() {
        assert_eq!(
            misfit(PAGE, serde_json::json!({"filter": {"status": "DONE"}})),
            r#"Variable "$filter" got an invalid value at "filter.status": "RunStatus" has no value "DONE"."#
        );
        assert_eq!(
            misfit(
                PAGE,
                serde_json::json!({"filter": {"metrics": [{"metric": "SHARPE_RATIO"}, {"metric": "CAGR", "gte": "x"}]}})
            ),
            r#"Variable "$filter" got an invalid value at "filter.metrics[1].gte": expected a value of type "Float", found "x"."#
        );
        assert_eq!(
            misfit(PAGE, serde_json::json!({"first": "twenty"})),
            r#"Variable "$first" got an invalid value: expected a value of type "Int", found "twenty"."#
        );
        let by_ids = "query($ids: [ID!]!) { compareBacktestRuns(ids: $ids) { __typename } }";
        assert_eq!(
            misfit(by_ids, serde_json::json!({})),
            r#"Variable "$ids" of required type "[ID!]!" was not provided."#
        );
    }
}
