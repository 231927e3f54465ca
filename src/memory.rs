//! The binary runs on mimalloc (`main.rs`). Like most allocators it keeps memory a
//! thread freed for that thread's next allocations, and gives it back to the system
//! only as later allocations come by. A one-off job that allocates many times what it
//! keeps (parsing a 100,000-user ACL peaks near 300 MiB for a list of about 30 MiB)
//! would otherwise leave an idle server sitting at the job's peak.

/// Give memory freed so far back to the system. Call it on the thread that did the
/// job, after dropping what the job no longer needs. It costs about a millisecond,
/// so not on a request path. Harmless when mimalloc is not the global allocator (it
/// then has nothing to give back).
#[allow(unsafe_code)]
pub fn release_freed() {
    // SAFETY: `mi_collect` takes no pointers and may be called from any thread at any
    // time; `force` also returns memory held for other threads' reuse.
    unsafe { libmimalloc_sys::mi_collect(true) }
}
