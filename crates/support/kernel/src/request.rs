//! The id of the request a task is serving: set by the HTTP layer around each request, read by
//! error answers and log lines of any layer.

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request this task is serving (`-` outside a request).
pub fn current_request_id() -> String {
    REQUEST_ID
        .try_with(|id| id.clone())
        .unwrap_or_else(|_| "-".to_string())
}

/// Runs `f` as the request `id`.
pub async fn scope<F: std::future::Future>(id: String, f: F) -> F::Output {
    REQUEST_ID.scope(id, f).await
}
