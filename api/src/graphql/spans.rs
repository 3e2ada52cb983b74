//! A tracing span per root field (`graphql.resolve`), for trace export: the field is
//! where a request's database work starts. Installed only when traces are exported: an
//! extension's hook runs for every field of every response.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo};
use async_graphql::{ServerResult, Value};
use tracing::Instrument as _;

pub struct RootFieldSpans;

impl ExtensionFactory for RootFieldSpans {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RootFieldSpans)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for RootFieldSpans {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if info.path_node.parent.is_some() {
            return next.run(ctx, info).await;
        }
        let span = tracing::info_span!("graphql.resolve", field = %info.name, parent_type = %info.parent_type);
        next.run(ctx, info).instrument(span).await
    }
}
