//! Store latency and errors for the metrics, around whichever backend runs.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;

use super::{Admission, FixedWindow, QueueEnd, Rule, Spend, Store, StoreError, StoreStatus};
use crate::clock::Clock;
use crate::metrics::Metrics;

pub struct Metered {
    inner: Arc<dyn Store>,
    metrics: Metrics,
}

impl Metered {
    pub fn new(inner: Arc<dyn Store>, metrics: Metrics) -> Self {
        Self { inner, metrics }
    }

    async fn observe<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let began = Instant::now();
        let result = call.await;
        self.metrics
            .observe_store(operation, result.is_ok(), began.elapsed());
        result
    }
}

#[async_trait]
impl Store for Metered {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    fn broken(&self) -> Option<String> {
        self.inner.broken()
    }

    fn clock(&self) -> Arc<dyn Clock> {
        self.inner.clock()
    }

    async fn admit(&self, key: &str, rules: &[Rule]) -> Result<Admission, StoreError> {
        self.observe("admit", self.inner.admit(key, rules)).await
    }

    async fn peek(&self, key: &str, rules: &[Rule]) -> Result<Admission, StoreError> {
        self.observe("peek", self.inner.peek(key, rules)).await
    }

    async fn hit(&self, key: &str, rule: Rule) -> Result<u32, StoreError> {
        self.observe("hit", self.inner.hit(key, rule)).await
    }

    async fn hit_durably(&self, key: &str, rule: Rule) -> Result<u32, StoreError> {
        self.observe("hit_durably", self.inner.hit_durably(key, rule))
            .await
    }

    async fn spend(&self, group: &str, windows: &[FixedWindow]) -> Result<Spend, StoreError> {
        self.observe("spend", self.inner.spend(group, windows))
            .await
    }

    async fn used(&self, group: &str, windows: &[FixedWindow]) -> Result<Vec<u32>, StoreError> {
        self.observe("used", self.inner.used(group, windows)).await
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.observe("get", self.inner.get(key)).await
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        self.observe("put", self.inner.put(key, value, ttl)).await
    }

    async fn put_new(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, StoreError> {
        self.observe("put_new", self.inner.put_new(key, value, ttl))
            .await
    }

    async fn put_if(
        &self,
        key: &str,
        held: Option<&[u8]>,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.observe("put_if", self.inner.put_if(key, held, value, ttl))
            .await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.observe("delete", self.inner.delete(key)).await
    }

    async fn delete_if(&self, key: &str, value: &[u8]) -> Result<bool, StoreError> {
        self.observe("delete_if", self.inner.delete_if(key, value))
            .await
    }

    async fn incr_below(
        &self,
        key: &str,
        cap: u32,
        ttl: Duration,
    ) -> Result<Option<u32>, StoreError> {
        self.observe("incr_below", self.inner.incr_below(key, cap, ttl))
            .await
    }

    async fn give_back(&self, key: &str) -> Result<(), StoreError> {
        self.observe("give_back", self.inner.give_back(key)).await
    }

    async fn schedule(&self, queue: &str, member: &str, at: SystemTime) -> Result<(), StoreError> {
        self.observe("schedule", self.inner.schedule(queue, member, at))
            .await
    }

    async fn unschedule(&self, queue: &str, member: &str) -> Result<(), StoreError> {
        self.observe("unschedule", self.inner.unschedule(queue, member))
            .await
    }

    async fn take_due(&self, queue: &str, max: usize) -> Result<Vec<String>, StoreError> {
        self.observe("take_due", self.inner.take_due(queue, max))
            .await
    }

    async fn lease_due(
        &self,
        queue: &str,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<String>, StoreError> {
        self.observe("lease_due", self.inner.lease_due(queue, max, lease))
            .await
    }

    async fn queued(
        &self,
        queue: &str,
        max: usize,
        end: QueueEnd,
    ) -> Result<Vec<(String, SystemTime)>, StoreError> {
        self.observe("queued", self.inner.queued(queue, max, end))
            .await
    }

    async fn check(&self) -> Result<StoreStatus, StoreError> {
        self.observe("check", self.inner.check()).await
    }
}
