//! Large requests (batches of runs, megabytes of JSON) run on a thread of their own.
//!
//! Why: glibc's allocator gives a thread that allocates under contention an arena of its
//! own, and keeps what is freed in an arena for that arena's next allocations. A batch of
//! 1,000 runs needs ~45 MB while it is parsed and checked: its variables as GraphQL values,
//! twice over (async-graphql copies them to validate the arguments and again to resolve
//! them). Run on whichever runtime worker picked the request up, every worker's arena grew
//! to that size in turn and kept it: recording 100,000 runs in batches of 1,000, the
//! server's resident set peaked at 86 MiB, against 56 MiB with a single arena
//! (`MALLOC_ARENA_MAX=1`, which slows every read by contention instead). On one thread the
//! batches reuse one arena's memory, the workers' arenas stay the size of the reads, and
//! large requests are parsed one at a time, which bounds their memory too.
//!
//! Before and after each large request the allocator gives the pages it holds free back to
//! the system (`malloc_trim`): what the workers' arenas kept from large responses (a
//! `runGroups` over everything), and the large thread's arena after a batch. Without it
//! the peak was the workers' leftovers plus a batch's need: 73 MiB recording after the
//! benchmark's read and research patterns.
//!
//! The thread runs a single-threaded tokio runtime: a large request's database work and
//! timers are awaited there (sockets opened by the main runtime keep being driven by it),
//! and several large requests can wait on PostgreSQL at once.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::Handle;
use tokio::task::{AbortHandle, JoinError};

/// Bodies declared larger than this go to the large-request thread.
pub const LARGE_BODY_BYTES: u64 = 256 * 1024;

static LARGE: OnceLock<Option<Handle>> = OnceLock::new();

/// Runs `work` on the large-request thread (started on first use), or here when that
/// thread could not be started.
pub async fn run<F>(work: F) -> Result<F::Output, JoinError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    // Before: what the workers' arenas kept does not add to the batch's need; after: the
    // batch's memory does not stay resident until the next one.
    give_back_freed_memory().await;
    let output = match LARGE.get_or_init(start) {
        Some(handle) => {
            let task = handle.spawn(work);
            // A request whose client went away stops, as it would on a worker (its
            // transaction rolls back): the task is aborted when this future is dropped.
            let _abort = AbortOnDrop(task.abort_handle());
            task.await
        }
        None => Ok(work.await),
    };
    give_back_freed_memory().await;
    output
}

/// `malloc_trim(0)` on a blocking thread (it walks every arena's free chunks, holding
/// each arena's lock), where the allocator is glibc's.
async fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim takes no pointer and only returns free pages to the system;
        // glibc documents it as thread-safe (MT-Safe): it locks each arena it trims.
        #[allow(unsafe_code)]
        let trim = || unsafe { libc::malloc_trim(0) };
        let _ = tokio::task::spawn_blocking(trim).await;
    }
}

struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        // A no-op once the task has finished.
        self.0.abort();
    }
}

fn start() -> Option<Handle> {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the large-request runtime: large requests run on the workers");
            return None;
        }
    };
    let handle = runtime.handle().clone();
    // The thread lives as long as the process; its runtime only runs what `run` spawns.
    let started = std::thread::Builder::new()
        .name("tearsheet-large".into())
        .spawn(move || runtime.block_on(std::future::pending::<()>()));
    match started {
        Ok(_) => Some(handle),
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the large-request thread: large requests run on the workers");
            None
        }
    }
}
