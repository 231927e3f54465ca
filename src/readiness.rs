//! Whether this instance is ready for traffic: the store answers, the audit log can be
//! written (without it no one signs in), and the ACL in service is what the file says. One check; the public `/readyz` and the admin
//! listener's `/readyz` both answer from it, each in its own words.

use std::sync::Arc;

use crate::acl::{AclStatus, AclStore};
use crate::store::health::StoreHealth;

/// What the check reads: both are cheap (the store's health is probed in the
/// background), so it may run on every request.
#[derive(Clone)]
pub struct Readiness {
    pub store_health: StoreHealth,
    /// The store's name for the public answer (`embedded`, `redis`).
    pub store_backend: &'static str,
    pub acl: Arc<AclStore>,
    pub audit: crate::audit::AuditLog,
}

/// Why an instance is not ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    /// The store doesn't answer; `problem` is the store's own account.
    Store {
        backend: &'static str,
        problem: String,
    },
    /// The audit log can't be written, so sign-ins and tokens are refused as busy.
    Audit { error: String },
    /// The ACL file was refused; the last good list is in service.
    AclRejected { error: String },
}

impl Readiness {
    pub fn check(&self) -> Result<(), NotReady> {
        if let Some(problem) = self.store_health.problem() {
            return Err(NotReady::Store {
                backend: self.store_backend,
                problem,
            });
        }
        if let Err(e) = self.audit.health() {
            return Err(NotReady::Audit {
                error: e.to_string(),
            });
        }
        match self.acl.status() {
            AclStatus::Fresh => Ok(()),
            AclStatus::Stale { error } => Err(NotReady::AclRejected { error }),
        }
    }
}

impl NotReady {
    /// For anyone: names no ACL detail and no store address.
    pub fn public(&self) -> String {
        match self {
            Self::Store { backend, .. } => {
                format!("not ready: the {backend} store is unavailable")
            }
            Self::Audit { .. } => "not ready: the audit log cannot be written".to_owned(),
            Self::AclRejected { .. } => {
                "not ready: the ACL file was rejected; the last good list is in service".to_owned()
            }
        }
    }

    /// For the admin listener: the problem itself.
    pub fn detailed(&self) -> String {
        match self {
            Self::Store { problem, .. } => problem.clone(),
            Self::Audit { error } => error.clone(),
            Self::AclRejected { error } => {
                format!("the ACL file was rejected; the last good list is in service:\n{error}")
            }
        }
    }
}
