//! How roomgate's own writer threads are scheduled beside the HTTP workers.
//!
//! The store's writer and the audit log's writer each wake for work a request has
//! handed them (a durable write, an audit record), and the request then waits for
//! them. Under Linux's default policy a waking thread preempts the one running, so
//! under load an HTTP worker was interrupted, and a writer woken, for nearly every
//! item handed over: about four context switches per sign-in flow between the two
//! writers. Scheduled as batch work (`SCHED_BATCH`), a waking writer doesn't preempt:
//! it runs when a core comes free, which is soon, since the requests that gave it work
//! are waiting for it, and by then it finds more queued, so each commit and each
//! `fdatasync` serves more requests. It keeps its fair share of the CPU either way.
//!
//! Measured with `flow_load` (64 participants, Verify at 0 ms, five pairs alternated
//! with `chrt -b` on a running server): the audit writer's CPU per flow 0.028–0.039 ms
//! against 0.056–0.071, the store writer's 0.101–0.115 against 0.115–0.147, the server's
//! in all 0.48–0.58 against 0.49–0.62 ms, flow p99s the same or lower.

/// Schedule the calling thread as batch work (Linux; elsewhere nothing). If the system
/// refuses, the thread runs as before; it says so at debug level.
#[allow(unsafe_code)]
pub fn as_batch_work() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `sched_setscheduler` only reads `param`, an initialised value that
        // outlives the call, and pid 0 changes the calling thread alone.
        let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
        if rc != 0 {
            tracing::debug!(
                error = %std::io::Error::last_os_error(),
                "this thread keeps the default scheduling policy"
            );
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::audit::AuditLog;
    use crate::clock::ManualClock;
    use crate::store::embedded::EmbeddedStore;
    use crate::test_support::TempDir;

    /// `SCHED_BATCH`, as `/proc/.../stat` reports a thread's policy.
    const BATCH: u32 = 3;

    /// The scheduling policy of a thread of this process, from field 41 of its
    /// `stat` (counted after the parenthesised name, which may hold spaces).
    fn policy(task: &std::path::Path) -> u32 {
        let stat = std::fs::read_to_string(task.join("stat")).unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 1..];
        after
            .split_whitespace()
            .nth(41 - 3)
            .unwrap()
            .parse()
            .unwrap()
    }

    /// The policies of this process's threads named `name`.
    fn policies_of(name: &str) -> Vec<u32> {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .flatten()
            .filter(|t| {
                std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == name)
            })
            .map(|t| policy(&t.path()))
            .collect()
    }

    #[test]
    fn a_thread_marked_as_batch_work_is_scheduled_as_batch_and_no_other() {
        let marked = std::thread::spawn(|| {
            as_batch_work();
            policy(std::path::Path::new("/proc/thread-self"))
        })
        .join()
        .unwrap();
        assert_eq!(marked, BATCH);
        assert_eq!(policy(std::path::Path::new("/proc/thread-self")), 0);
    }

    #[tokio::test]
    async fn the_store_and_audit_writers_run_as_batch_work() {
        let tmp = TempDir::new("scheduling");
        let store = EmbeddedStore::open(&tmp.0.join("data"), Arc::new(ManualClock::default()))
            .await
            .unwrap();
        let audit = AuditLog::open(&tmp.0.join("audit.log"), None).unwrap();
        // A thread takes its name, and marks itself, only once it runs; other tests'
        // writers may have only just started too. Each marks itself first thing, so
        // a moment later every writer there is is batch work.
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let (store_writers, audit_writers) =
                (policies_of("roomgate-store"), policies_of("roomgate-audit"));
            let all_batch = !store_writers.is_empty()
                && !audit_writers.is_empty()
                && store_writers
                    .iter()
                    .chain(&audit_writers)
                    .all(|p| *p == BATCH);
            if all_batch {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "writers not scheduled as batch work: store {store_writers:?}, audit {audit_writers:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop((store, audit));
    }
}
