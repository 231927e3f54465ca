//! The sign-in flow apart from HTTP: what "send me a code" and "here is my code" do.
//! Handlers parse the request, call the [`SignInService`], and render what it returns.
//!
//! Every way a step can be refused is a [`Refusal`], and every refusal goes through
//! [`SignInService::refuse`], which counts it, audits it and picks what the
//! participant is told.

use std::net::IpAddr;
use std::time::Duration;

use super::SignInService;
use super::pending::{CodeRequest, SignIn, SignInId, Start, StartState};
use crate::audit::{AuditError, AuditEvent, AuditRecord};
use crate::domain::{OtpCode, RoomName, Username};
use crate::limits::{Denied, Limited};
use crate::metrics::{FailReason, LimitKind};
use crate::notice::Notice;
use crate::store::StoreError;
use crate::verify::CheckOutcome;

/// Why a step of the sign-in may not go on.
#[derive(Debug)]
pub enum Refusal {
    /// One of our rate limits.
    Limited(Limited),
    /// Too many failed verifications for the name typed.
    LockedOut(Duration),
    /// The SMS budget is spent until the window rolls over.
    Budget(Duration),
    /// The store can't say whether the step is allowed: fail closed.
    StoreDown(StoreError),
    /// The audit log can't be written (a full disk, say): no sign-in goes unrecorded,
    /// so new ones are refused until it can.
    AuditDown(AuditError),
}

impl From<Denied> for Refusal {
    fn from(denied: Denied) -> Self {
        match denied {
            Denied::Limited(limited) => Self::Limited(limited),
            Denied::Store(e) => Self::StoreDown(e),
        }
    }
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Self::StoreDown(e)
    }
}

impl Refusal {
    /// What the participant is told.
    pub fn notice(&self) -> Notice {
        match self {
            Self::Limited(limited) => Notice::limited(limited),
            Self::LockedOut(left) => Notice::locked_out(*left),
            Self::Budget(wait) => Notice::busy(*wait),
            Self::StoreDown(_) | Self::AuditDown(_) => Notice::Unavailable,
        }
    }

    fn kind(&self) -> Option<LimitKind> {
        match self {
            Self::Limited(limited) => Some(limited.action.into()),
            Self::LockedOut(_) => Some(LimitKind::LockedOut),
            Self::Budget(_) => Some(LimitKind::Budget),
            Self::StoreDown(_) | Self::AuditDown(_) => None,
        }
    }

    /// The audit record's detail.
    fn detail(&self) -> &'static str {
        match self {
            Self::Limited(limited) => limited.action.kind(),
            Self::LockedOut(_) => "locked_out",
            Self::Budget(_) => "sms_budget",
            Self::StoreDown(_) => "store_unavailable",
            Self::AuditDown(_) => "audit_unavailable",
        }
    }
}

/// Where a request comes from and what it is for, for the logs and the audit log.
#[derive(Debug, Clone, Copy)]
pub struct Visit<'a> {
    pub room: &'a RoomName,
    pub ip: IpAddr,
}

/// What checking a code came to.
#[derive(Debug)]
pub enum Checked {
    /// The code is right and the user still on the list: elevate the session.
    Approved(Username),
    /// Wrong, with this many checks left. Said whatever went wrong with a code, so it
    /// reveals nothing about the username.
    Wrong { left: u8 },
    /// The sign-in is over (or, for `Notice::Unavailable`, may be retried).
    Ended(Notice),
}

impl SignInService {
    /// The one way a refusal ends a request: counted in the metrics, written to the audit
    /// log (limits) or the error log (the store; the audit log's writer reports its own
    /// failure, once), and turned into the notice to show.
    /// `who` is the name as typed, if there was one.
    pub async fn refuse(&self, refusal: &Refusal, visit: Visit<'_>, who: Option<&str>) -> Notice {
        let room = visit.room;
        match (refusal, refusal.kind()) {
            (Refusal::StoreDown(e), _) => {
                self.metrics.store_refusal();
                tracing::error!(%room, error = %e, "refused: the store is unavailable");
            }
            (Refusal::AuditDown(e), _) => {
                tracing::debug!(%room, error = %e, "refused: the audit log cannot be written");
            }
            (_, Some(kind)) => {
                let user = who.map(|w| self.pseudonyms.of(w)).unwrap_or_default();
                tracing::info!(%user, %room, refusal = refusal.detail(), "refused");
                self.metrics.limited(kind);
                let mut record = AuditRecord::new(AuditEvent::Limited)
                    .room(room)
                    .ip(visit.ip)
                    .detail(refusal.detail());
                if let Some(u) = who.and_then(|w| Username::parse(w).ok()) {
                    record = record.user(&u);
                }
                self.audit(record).await;
            }
            (_, None) => {}
        }
        refusal.notice()
    }

    /// "Send me a code" for the name typed. Known or not, allowed or not, the outcome looks
    /// the same: a new pending sign-in, or the same refusal. Only a user on the list for
    /// this room triggers a send, in the background, so timing doesn't tell either.
    /// `replacing` is the session's previous sign-in, dropped once the new one exists.
    pub async fn begin(
        &self,
        visit: Visit<'_>,
        who: String,
        locale: Option<&str>,
        replacing: Option<SignInId>,
    ) -> Result<SignInId, Refusal> {
        // A sign-in that can't be recorded is refused before it spends any limit, so
        // the name's codes are all there when the log works again.
        self.audit_log.health().map_err(Refusal::AuditDown)?;
        self.limiter.login_from_ip(visit.ip).await?;
        // Limits on the name typed apply whether or not anyone has that name.
        if let Some(left) = self.limiter.locked_out(&who).await? {
            return Err(Refusal::LockedOut(left));
        }
        // A spent budget is global: everyone is told, so it reveals nobody. Checked
        // before the per-name limit, so a refusal here costs the name nothing.
        if let Some(wait) = self.budget.exhausted().await? {
            tracing::warn!(room = %visit.room, "sign-in refused: SMS budget exhausted");
            return Err(Refusal::Budget(wait));
        }
        self.limiter.start_for_user(&who).await?;
        let start = self.start_for(visit, &who, locale).await?;
        if let Some(old) = replacing {
            self.signins.remove(&old).await?;
        }
        Ok(self.signins.begin(visit.room.clone(), who, start).await?)
    }

    /// Whether to send a code. Refusals found here concern a real user's number, so they
    /// are told on the code page, not in this response.
    async fn start_for(
        &self,
        visit: Visit<'_>,
        who: &str,
        locale: Option<&str>,
    ) -> Result<Start, Refusal> {
        let Visit { room, ip } = visit;
        let user = self.pseudonyms.of(who);
        let username = Username::parse(who).ok();
        let record = AuditRecord::new(AuditEvent::SignInRequested)
            .room(room)
            .ip(ip);
        let allowed = username.as_ref().and_then(|username| {
            let acl = self.acl.load();
            let phone = acl.allowed(username, room)?.phone.clone();
            Some((username.clone(), phone))
        });
        let Some((username, phone)) = allowed else {
            tracing::info!(%user, %room, "sign-in requested for a user not on the list");
            let record = match &username {
                Some(u) => record.user(u),
                None => record,
            };
            // Known or not, a sign-in that can't be recorded is refused the same way.
            self.audit_log
                .record(record.detail("not_on_list"))
                .await
                .map_err(Refusal::AuditDown)?;
            return Ok(Start::Nothing);
        };
        tracing::info!(%user, %room, "sign-in requested");
        self.audit_log
            .record(record.user(&username).phone(&phone).detail("on_list"))
            .await
            .map_err(Refusal::AuditDown)?;
        let limited = |detail: &str| {
            AuditRecord::new(AuditEvent::Limited)
                .user(&username)
                .room(room)
                .ip(ip)
                .phone(&phone)
                .detail(detail)
        };
        match self.limiter.start_for_phone(&phone).await {
            Ok(()) => {}
            Err(Denied::Store(e)) => return Err(e.into()),
            Err(Denied::Limited(limit)) => {
                tracing::info!(%user, %room, phone = %phone.masked(), limit = limit.action.kind(), "sign-in limited");
                self.metrics.limited(limit.action.into());
                self.audit(limited(limit.action.kind())).await;
                return Ok(Start::Refused(Notice::limited(&limit)));
            }
        }
        let spent = self.budget.spend().await?;
        if let Err(wait) = spent {
            tracing::warn!(%user, %room, "sign-in refused: SMS budget exhausted");
            self.metrics.limited(LimitKind::Budget);
            self.audit(limited("sms_budget")).await;
            return Ok(Start::Refused(Notice::busy(wait)));
        }
        Ok(Start::Send(CodeRequest {
            username,
            log_user: user,
            phone,
            locale: locale.map(str::to_owned),
            room: room.clone(),
            ip,
        }))
    }

    /// The pending sign-in a code may be checked against: the per-network limit, then the
    /// session's sign-in (`None`: expired or never begun), then the name's lockout.
    pub async fn admit_check(
        &self,
        visit: Visit<'_>,
        pending: Option<SignInId>,
    ) -> Result<Option<(SignInId, SignIn)>, Refusal> {
        self.limiter.check_from_ip(visit.ip).await?;
        let Some(id) = pending else { return Ok(None) };
        let Some(sign_in) = self.signins.get(&id, visit.room).await? else {
            return Ok(None);
        };
        if let Some(left) = self.limiter.locked_out(&sign_in.who).await? {
            self.metrics.limited(LimitKind::LockedOut);
            return Err(Refusal::LockedOut(left));
        }
        Ok(Some((id, sign_in)))
    }

    /// One code check of a pending sign-in.
    pub async fn check(
        &self,
        visit: Visit<'_>,
        id: SignInId,
        sign_in: SignIn,
        code: &OtpCode,
    ) -> Result<Checked, Refusal> {
        let attempt = Attempt {
            service: self,
            visit,
            user: self.pseudonyms.of(&sign_in.who),
            id,
            sign_in,
        };
        let Some(left) = self.signins.take_check(&attempt.id).await? else {
            attempt.end().await?;
            return Ok(Checked::Ended(Notice::TooManyAttempts));
        };
        let started = self
            .signins
            .started(&attempt.id, &attempt.sign_in, self.start_wait)
            .await?;
        let sid = match started {
            StartState::Sent(sid) => sid,
            StartState::Failed(notice) => return Ok(Checked::Ended(notice)),
            // Not on the list: the same answers a wrong code gets, and no call to Verify.
            StartState::NotSent | StartState::InFlight => {
                return if left == 0 {
                    attempt.failed(Notice::TooManyAttempts).await
                } else {
                    attempt.wrong(left).await
                };
            }
        };
        let username = attempt
            .sign_in
            .username
            .clone()
            .ok_or_else(|| StoreError::corrupt("signin", "a sent sign-in has no username"))?;
        let (user, room) = (&attempt.user, visit.room);
        match self.verifier.check(&sid, code).await {
            Ok(CheckOutcome::Approved) => {
                attempt.end().await?;
                // Removed from the list while typing the code: approved, but no entry.
                if self.acl.load().allowed(&username, room).is_none() {
                    tracing::info!(%user, %room, "code approved for a user no longer on the list");
                    return Ok(Checked::Ended(Notice::Expired));
                }
                tracing::info!(%user, %room, "code approved");
                self.metrics.verification_approved();
                attempt.audit(AuditEvent::CheckApproved, "").await;
                Ok(Checked::Approved(username))
            }
            Ok(CheckOutcome::Rejected) if left > 0 => {
                tracing::info!(%user, %room, attempts_left = left, "code check failed");
                attempt.wrong(left).await
            }
            Ok(CheckOutcome::Rejected) => {
                tracing::info!(%user, %room, "code check failed; no attempts left");
                attempt.failed(Notice::TooManyAttempts).await
            }
            Ok(CheckOutcome::Closed) => attempt.failed(Notice::Expired).await,
            Err(err) => {
                let notice = Notice::from_verify_error(&err);
                tracing::warn!(
                    %user, %room,
                    twilio_code = ?err.twilio_code(), error = %err, notice = notice.kind(),
                    "code check failed at the verifier"
                );
                match notice {
                    // A busy service may be retried with the same code.
                    Notice::Unavailable => Ok(Checked::Ended(notice)),
                    Notice::TooManyAttempts | Notice::Expired => attempt.failed(notice).await,
                    _ => {
                        self.metrics.verification_failed(notice.fail_reason());
                        attempt.end().await?;
                        Ok(Checked::Ended(notice))
                    }
                }
            }
        }
    }
}

/// One code check in progress: what its outcomes need to end it.
struct Attempt<'a> {
    service: &'a SignInService,
    visit: Visit<'a>,
    user: String,
    id: SignInId,
    sign_in: SignIn,
}

impl Attempt<'_> {
    async fn wrong(&self, left: u8) -> Result<Checked, Refusal> {
        self.service
            .metrics
            .verification_failed(FailReason::WrongCode);
        self.audit(AuditEvent::CheckFailed, "wrong_code").await;
        Ok(Checked::Wrong { left })
    }

    /// The verification failed for good (exhausted or expired): it counts toward a
    /// lockout, and this failure may be the one that locks.
    async fn failed(&self, notice: Notice) -> Result<Checked, Refusal> {
        self.end().await?;
        self.service
            .metrics
            .verification_failed(notice.fail_reason());
        self.audit(AuditEvent::CheckFailed, notice.kind()).await;
        let notice = match self
            .service
            .limiter
            .record_failure(&self.sign_in.who)
            .await?
        {
            Some(lock) => {
                let (user, room) = (&self.user, self.visit.room);
                tracing::warn!(%user, %room, lock_secs = lock.as_secs(), "locked out");
                self.service.metrics.lockout();
                self.audit(AuditEvent::Lockout, &format!("{}s", lock.as_secs()))
                    .await;
                Notice::locked_out(lock)
            }
            None => notice,
        };
        Ok(Checked::Ended(notice))
    }

    async fn audit(&self, event: AuditEvent, detail: &str) {
        let mut record = AuditRecord::new(event)
            .room(self.visit.room)
            .ip(self.visit.ip)
            .detail(detail);
        if let Ok(u) = Username::parse(&self.sign_in.who) {
            record = record.user(&u);
        }
        self.service.audit(record).await;
    }

    async fn end(&self) -> Result<(), StoreError> {
        self.service.signins.remove(&self.id).await
    }
}
