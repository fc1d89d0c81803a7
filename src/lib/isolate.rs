//! Running per-item work so that one item cannot take the batch down: a panic while handling
//! one video (an FFmpeg oddity, a bug on a rare input) becomes that item's failed result with
//! the panic's message, and every other item goes on. Long-running processes (the miner and
//! validator loops) rely on this as much as the batch stages do.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// The text a panic was raised with (`panic!` gives a `&str` or a `String`).
pub fn panic_text(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("unknown panic")
}

/// The message of a caught panic, as a failed row reports it.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    format!("internal error (please report it): {}", panic_text(payload))
}

/// `f()`, or the panic's message if it panicked.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| panic_message(p.as_ref()))
}

/// Runs `work` on every item, `jobs` at a time, and returns the results in input order; an
/// item whose work panicked gets `recover(item, message)`. `on_done` sees each result as it
/// finishes (for progress).
pub async fn map_isolated<I, T, F, Fut>(
    items: Vec<I>,
    jobs: usize,
    work: F,
    recover: impl Fn(&I, String) -> T,
    on_done: impl Fn(&T),
) -> Vec<T>
where
    I: Clone + Send + 'static,
    T: Send + 'static,
    F: Fn(I) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let semaphore = Arc::new(tokio::sync::Semaphore::new(jobs.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let mut slots = std::collections::HashMap::new();
    for (i, item) in items.iter().enumerate() {
        let (semaphore, fut) = (semaphore.clone(), work(item.clone()));
        let handle = tasks.spawn(async move {
            // The semaphore is never closed, so a permit always comes.
            let _permit = semaphore.acquire_owned().await;
            fut.await
        });
        slots.insert(handle.id(), i);
    }
    let mut out: Vec<Option<T>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    while let Some(joined) = tasks.join_next_with_id().await {
        let (id, result) = match joined {
            Ok((id, value)) => (id, value),
            Err(e) => {
                let id = e.id();
                let message = match e.try_into_panic() {
                    Ok(payload) => panic_message(payload.as_ref()),
                    Err(e) => format!("internal error: task {e}"),
                };
                (id, recover(&items[slots[&id]], message))
            }
        };
        on_done(&result);
        out[slots[&id]] = Some(result);
    }
    out.into_iter()
        .zip(&items)
        .map(|(r, item)| r.unwrap_or_else(|| recover(item, "internal error: lost task".into())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_item_fails_alone_and_order_is_kept() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let out = rt.block_on(map_isolated(
            vec![1, 2, 3, 4],
            2,
            |n| async move {
                assert!(n != 3, "item three is odd");
                n * 10
            },
            |n, message| {
                assert!(message.contains("item three is odd"), "{message}");
                -n
            },
            |_| {},
        ));
        assert_eq!(out, vec![10, 20, -3, 40]);
        assert!(catch(|| panic!("boom")).unwrap_err().contains("boom"));
        assert!(catch(|| panic!("{}", String::from("formatted")))
            .unwrap_err()
            .contains("formatted"));
        assert!(panic_message(&7u8).contains("unknown panic"));
        assert_eq!(catch(|| 5), Ok(5));
    }
}
