//! The policy every gRPC call gets, whatever the plugin kind: one tower
//! layer that the runtime (and the CSI server) put in front of all
//! services, so a new kind gets it by being served at all.
//!
//! | concern | what the layer does |
//! |---|---|
//! | tracing | a `rpc` span per call named after the method (`/hashicorp.nomad.plugins.drivers.proto.Driver/StartTask`); when the answer starts, a debug event with the gRPC status and the time taken |
//! | panics | a panic in the plugin's handler (before a streaming call returns its stream) is caught, logged at error with its message, and answered `INTERNAL`; the plugin keeps serving |
//!
//! Message-size limits are set where each generated server is built
//! ([`limit_message_size!`](crate::runtime::limit_message_size)), since
//! tonic enforces them in the codec, below any layer.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use futures::FutureExt;
use tower::{Layer, Service};
use tracing::Instrument;

/// The layer: wraps a service in [`RpcPolicy`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RpcPolicyLayer;

impl<S> Layer<S> for RpcPolicyLayer {
    type Service = RpcPolicy<S>;

    fn layer(&self, inner: S) -> RpcPolicy<S> {
        RpcPolicy { inner }
    }
}

/// A service with the policy applied; see the module documentation.
#[derive(Debug, Clone)]
pub(crate) struct RpcPolicy<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for RpcPolicy<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let rpc = request.uri().path().to_owned();
        let span = tracing::debug_span!("rpc", rpc = %rpc);
        let started = Instant::now();
        // Generated services do their work in the future, but a hand-written
        // one may panic in `call` itself.
        let call = {
            let _entered = span.enter();
            std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(request)))
        };
        Box::pin(
            async move {
                let outcome = match call {
                    Ok(future) => AssertUnwindSafe(future).catch_unwind().await,
                    Err(panic) => Err(panic),
                };
                match outcome {
                    Ok(Ok(response)) => {
                        tracing::debug!(
                            grpc_status = grpc_status(&response),
                            elapsed_us = started.elapsed().as_micros() as u64,
                            "rpc answered"
                        );
                        Ok(response)
                    }
                    Ok(Err(e)) => Err(e),
                    Err(panic) => {
                        let message = panic_message(panic.as_ref());
                        tracing::error!(
                            rpc = %rpc,
                            panic = %message,
                            "the plugin panicked; answering Internal"
                        );
                        Ok(tonic::Status::internal(format!(
                            "the plugin panicked in {rpc}: {message}"
                        ))
                        .into_http())
                    }
                }
            }
            .instrument(span),
        )
    }
}

/// The `grpc-status` of an answer that carries it in its headers (an error
/// or an empty stream); `0` otherwise (the status follows in trailers).
fn grpc_status<B>(response: &http::Response<B>) -> i64 {
    response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The text of a panic payload (`panic!("...")` gives a `&str` or a
/// `String`).
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;

    #[derive(Clone)]
    struct Panics;

    impl Service<http::Request<()>> for Panics {
        type Response = http::Response<String>;
        type Error = Infallible;
        type Future = BoxFuture<Result<Self::Response, Infallible>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, request: http::Request<()>) -> Self::Future {
            let in_call = request.uri().path() == "/in/call";
            if in_call {
                panic!("boom in call");
            }
            Box::pin(async move {
                if request.uri().path() == "/ok" {
                    return Ok(http::Response::new("fine".to_string()));
                }
                panic!("boom in {}", request.uri().path());
            })
        }
    }

    async fn call(path: &str) -> http::Response<String> {
        let mut svc = RpcPolicyLayer.layer(Panics);
        let request = http::Request::builder().uri(path).body(()).unwrap();
        svc.call(request).await.unwrap()
    }

    #[tokio::test]
    async fn a_panic_becomes_internal_and_the_service_keeps_answering() {
        for path in ["/svc/Method", "/in/call"] {
            let response = call(path).await;
            assert_eq!(response.headers()["grpc-status"], "13", "{path}");
            let message = response.headers()["grpc-message"].to_str().unwrap();
            assert!(message.contains("boom"), "{message}");
        }
        assert_eq!(call("/ok").await.into_body(), "fine");
    }

    #[test]
    fn panic_messages() {
        assert_eq!(panic_message(&"static"), "static");
        assert_eq!(panic_message(&String::from("owned")), "owned");
        assert_eq!(panic_message(&42), "a panic without a message");
    }
}
