//! A request body must arrive within [`BODY_DEADLINE`] of the request's head.
//!
//! actix-web cuts off a request whose head is slow (`client_request_timeout`), but not
//! one whose body is: a POST that declares 100 bytes and sends 3 held its connection,
//! and whatever the handler had started, for as long as the client liked. Enough of
//! them hold any number of connections and their buffers. Every body roomgate reads is
//! a few kilobytes at most, so one that takes longer than this is cut: its read fails
//! (the handler's usual answer to an unreadable body), and the connection closes.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::HttpMessage as _;
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use futures_util::Stream;
use tokio::time::{Instant, Sleep};

/// From the head's arrival to the body's last byte.
pub const BODY_DEADLINE: Duration = Duration::from_secs(10);

pub async fn cut_slow_bodies(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if has_body(&req) {
        let payload = req.take_payload();
        let deadline = Box::pin(tokio::time::sleep_until(Instant::now() + BODY_DEADLINE));
        req.set_payload(Payload::Stream {
            payload: Box::pin(Deadline { payload, deadline }),
        });
    }
    next.call(req).await
}

/// Whether the request says a body follows (most requests, GETs, have none, and cost
/// no timer).
fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

struct Deadline {
    payload: Payload,
    deadline: Pin<Box<Sleep>>,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Poll::Ready(item) = Pin::new(&mut self.payload).poll_next(cx) {
            return Poll::Ready(item);
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(PayloadError::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request body took too long",
            ))))),
            Poll::Pending => Poll::Pending,
        }
    }
}
