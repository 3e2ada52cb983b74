//! Shared state: cheap-to-clone handles, passed explicitly (no globals).

use crate::db::Pools;

#[derive(Clone, Debug)]
pub struct AppState {
    pub pools: Pools,
}
