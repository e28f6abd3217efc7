//! A scoped worker pool over a list of items: each thread takes the next item from a shared
//! counter, so the threads walk the volume nearly in order (good for readahead) and a slow
//! item never idles the others. The first error stops every thread at its next item and is
//! the one returned. Memory stays bounded by the per-thread state (one buffer each).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::error::{BackupError, Result};

/// Runs `work` on every item with `threads` threads, each with its own state from `init`;
/// returns the results in item order.
pub(crate) fn run<I, S, R>(
    threads: usize,
    items: &[I],
    init: impl Fn() -> Result<S> + Sync,
    work: impl Fn(&mut S, &I) -> Result<R> + Sync,
) -> Result<Vec<R>>
where
    I: Sync,
    R: Send,
{
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<BackupError>> = Mutex::new(None);
    let fail = |e: BackupError| {
        failed.store(true, Ordering::Relaxed);
        first_error
            .lock()
            .expect("no panics hold it")
            .get_or_insert(e);
    };
    let threads = threads.clamp(1, items.len().max(1));
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    let mut state = match init() {
                        Ok(state) => state,
                        Err(e) => {
                            fail(e);
                            return out;
                        }
                    };
                    while !failed.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        match work(&mut state, item) {
                            Ok(r) => out.push((i, r)),
                            Err(e) => fail(e),
                        }
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a backup worker panicked"))
            .collect()
    });
    if let Some(e) = first_error.into_inner().expect("no panics hold it") {
        return Err(e);
    }
    done.sort_unstable_by_key(|(i, _)| *i);
    Ok(done.into_iter().map(|(_, r)| r).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_item_order() {
        let items: Vec<u64> = (0..1000).collect();
        let out = run(3, &items, || Ok(()), |_, &i| Ok(i * 2)).unwrap();
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert!(run(2, &[] as &[u64], || Ok(()), |_, &i| Ok(i))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn the_first_error_stops_the_work() {
        let items: Vec<u64> = (0..10_000).collect();
        let seen = AtomicUsize::new(0);
        let err = run(
            2,
            &items,
            || Ok(()),
            |_, &i| {
                seen.fetch_add(1, Ordering::Relaxed);
                if i == 10 {
                    Err(BackupError::NotFound("ten".into()))
                } else {
                    Ok(i)
                }
            },
        )
        .unwrap_err();
        assert!(matches!(err, BackupError::NotFound(ref s) if s == "ten"));
        assert!(seen.load(Ordering::Relaxed) < 10_000);
    }
}
