//! `Subscription.backtestRunRecorded`: runs as they are recorded, by any server process.

use std::collections::VecDeque;

use async_graphql::{Context, Subscription};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::loaders::Loaders;
use super::runs::{BacktestRun, BacktestRunFilter};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::query::Filter;

#[derive(Default)]
pub struct Subscription;

struct Feed {
    rx: tokio::sync::broadcast::Receiver<crate::live::Batch>,
    db: crate::db::Db,
    filter: Filter,
    ready: VecDeque<tearsheet_entity::backtest_run::Model>,
    done: bool,
}

#[Subscription]
impl Subscription {
    /// Every run recorded from now on that matches the filter, on every replica of the
    /// server, in commit order. A subscriber too slow to keep up gets an error and the
    /// subscription ends.
    async fn backtest_run_recorded(
        &self,
        ctx: &Context<'_>,
        filter: Option<BacktestRunFilter>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<BacktestRun>>> {
        let filter = filter.unwrap_or_default().into_filter()?;
        let state = ctx.data::<AppState>()?;
        let live = state
            .live
            .as_ref()
            .ok_or_else(|| ApiError::bad_request("live updates are not available on this server"))?;
        // The connection's loaders serve the runs' nested fields; cleared per batch so a
        // long-lived connection does not accumulate every run it was sent.
        let loaders = ctx.data::<Loaders>().ok().cloned();
        let feed =
            Feed { rx: live.subscribe(), db: state.pools.read.clone(), filter, ready: VecDeque::new(), done: false };
        Ok(futures_util::stream::unfold(feed, move |mut feed| {
            let loaders = loaders.clone();
            async move {
                loop {
                    if let Some(run) = feed.ready.pop_front() {
                        return Some((Ok(BacktestRun::from(run)), feed));
                    }
                    if feed.done {
                        return None;
                    }
                    match feed.rx.recv().await {
                        Ok(ids) => {
                            if let Some(loaders) = &loaders {
                                loaders.clear();
                            }
                            match crate::store::runs::matching(&feed.db, &ids, &feed.filter).await {
                                Ok(mut found) => {
                                    // In the order they were recorded.
                                    found.sort_by_key(|r| ids.iter().position(|id| *id == r.id));
                                    feed.ready.extend(found);
                                }
                                Err(e) => {
                                    feed.done = true;
                                    return Some((Err(ApiError::from(e).into()), feed));
                                }
                            }
                        }
                        Err(RecvError::Lagged(missed)) => {
                            feed.done = true;
                            let message = format!(
                                "this subscriber fell {missed} batches behind the runs being recorded and was closed; \
                                 subscribe again (and read what was missed with backtestRuns)"
                            );
                            return Some((Err(ApiError::bad_request(message).into()), feed));
                        }
                        Err(RecvError::Closed) => return None,
                    }
                }
            }
        }))
    }
}
