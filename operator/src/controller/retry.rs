//! Retrying API calls that failed for a passing reason (a 5xx, a 429, a
//! conflict), a few times with a short pause, before failing the reconcile
//! into the slower per-object backoff.

use std::{future::Future, time::Duration};

/// Attempts per call, the first included.
const ATTEMPTS: u32 = 3;
/// Pause before the second attempt; doubled for each further one.
const PAUSE: Duration = Duration::from_millis(100);

/// Whether `error` may go away by itself.
pub fn is_transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => status.code == 409 || status.code == 429 || status.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Runs `call` until it succeeds, fails for good, or runs out of attempts.
pub async fn retry<T, F, Fut>(mut call: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut pause = PAUSE;
    for _ in 1..ATTEMPTS {
        match call().await {
            Err(e) if is_transient(&e) => {
                tracing::debug!(error = %e, retry_in = ?pause, "transient API error");
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            other => return other,
        }
    }
    call().await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use kube::core::Status;

    use super::*;

    fn api_error(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(
            Status::failure("injected", "Injected").with_code(code),
        ))
    }

    #[tokio::test]
    async fn transient_errors_are_retried_until_success() {
        let calls = AtomicU32::new(0);
        let result = retry(|| async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 => Err(api_error(500)),
                1 => Err(api_error(409)),
                _ => Ok("done"),
            }
        })
        .await;
        assert_eq!(result.ok(), Some("done"));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    /// How many times `retry` calls an API that always fails with `code`.
    async fn attempts_against(code: u16) -> u32 {
        let calls = AtomicU32::new(0);
        let result = retry(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(api_error(code))
        })
        .await;
        assert!(result.is_err(), "a {code} fails the call");
        calls.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn permanent_errors_and_exhausted_attempts_fail() {
        assert_eq!(attempts_against(403).await, 1, "a 403 is not retried");
        assert_eq!(attempts_against(503).await, ATTEMPTS);
    }
}
