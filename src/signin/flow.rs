//! The sign-in flow apart from HTTP: what "send me a code" and "here is my code" do.
//! Handlers parse the request, call the [`SignInService`], and render what it returns.
//!
//! Every way a step can be refused is a [`Refusal`], and every refusal goes through
//! [`SignInService::refuse`], which counts it, audits it and picks what the
//! participant is told.

use std::net::IpAddr;
use std::time::Duration;

use futures_util::FutureExt as _;

use super::SignInService;
use super::pending::{Checks, CodeRequest, SignIn, SignInId, Start, StartState, Window};
use crate::audit::{AuditError, AuditEvent, AuditRecord};
use crate::budget::{Budget, BudgetKind};
use crate::domain::{OtpCode, PhoneNumber, RoomName, Username};
use crate::limits::{Denied, Limited, LimitedAction};
use crate::metrics::{FailReason, LimitKind, SignInMethod};
use crate::notice::Notice;
use crate::store::StoreError;
use crate::telemetry::REPEATABLE;
use crate::verify::{Channel, CheckOutcome, VerifyError};

/// Why a step of the sign-in may not go on.
#[derive(Debug)]
pub enum Refusal {
    /// One of our rate limits.
    Limited(Limited),
    /// Too many failed verifications for the name typed.
    LockedOut(Duration),
    /// The SMS (or call) budget is spent until the window rolls over.
    Budget(BudgetKind, Duration),
    /// The store can't say whether the step is allowed: fail closed.
    StoreDown(StoreError),
    /// Verify is failing or saturated: a code could not be sent now anyway.
    Busy(Duration),
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
            // Everyone's sign-ins together: nothing this visitor did, so "busy".
            Self::Limited(limited) if limited.action == LimitedAction::PendingSignIns => {
                Notice::busy(limited.retry_after)
            }
            Self::Limited(limited) => Notice::limited(limited),
            Self::LockedOut(left) => Notice::locked_out(*left),
            Self::Budget(_, wait) | Self::Busy(wait) => Notice::busy(*wait),
            Self::StoreDown(_) | Self::AuditDown(_) => Notice::Unavailable,
        }
    }

    fn kind(&self) -> Option<LimitKind> {
        match self {
            Self::Limited(limited) => Some(limited.action.into()),
            Self::LockedOut(_) => Some(LimitKind::LockedOut),
            Self::Budget(..) => Some(LimitKind::Budget),
            Self::StoreDown(_) | Self::Busy(_) | Self::AuditDown(_) => None,
        }
    }

    /// The audit record's detail.
    fn detail(&self) -> &'static str {
        match self {
            Self::Limited(limited) => limited.action.kind(),
            Self::LockedOut(_) => "locked_out",
            Self::Budget(kind, _) => kind.refusal_detail(),
            Self::StoreDown(_) => "store_unavailable",
            Self::Busy(_) => "verify_busy",
            Self::AuditDown(_) => "audit_unavailable",
        }
    }
}

/// The audit record of a send refused for `req`'s number.
fn send_limited(req: &CodeRequest, detail: &str) -> AuditRecord {
    AuditRecord::new(AuditEvent::Limited)
        .user(&req.username)
        .room(&req.room)
        .ip(req.ip)
        .phone(&req.phone)
        .detail(detail)
}

/// What the list says of a name typed, for one room and channel.
enum Listed {
    /// Not a valid name (`None`), or not on the list for the room.
    No(Option<Username>),
    /// On the list, but not for this channel (a call for a user allowed only texts).
    NotThisChannel(Username),
    /// On the list: codes go to this number.
    May(Username, PhoneNumber),
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
    /// The sign-in ended while this check waited for its turn or for Verify: another
    /// check of it (the same code posted twice, a double-click) was approved, or it
    /// was replaced. Nothing is counted against the name; the room page says where
    /// the session stands.
    Superseded,
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
                tracing::error!(name: REPEATABLE, %room, error = %e, "refused: the store is unavailable");
            }
            // Counted by the guard (`roomgate_outbound_rejected_total`).
            (Refusal::Busy(_), _) => {
                tracing::warn!(name: REPEATABLE, %room, "refused: Verify is saturated or failing");
            }
            // The audit log's writer reports its own failure, once.
            (Refusal::AuditDown(e), _) => {
                tracing::debug!(%room, error = %e, "refused: the audit log cannot be written");
            }
            (_, Some(kind)) => {
                // The pseudonym is a keyed hash: under a flood, worth computing only for
                // a log that shows it.
                if tracing::enabled!(tracing::Level::INFO) {
                    let user = who.map(|w| self.pseudonyms.of(w)).unwrap_or_default();
                    tracing::info!(name: REPEATABLE, %user, %room, refusal = refusal.detail(), "refused");
                }
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

    /// The budget that pays for starts on `channel`.
    fn budget_for(&self, channel: Channel) -> &Budget {
        match channel {
            Channel::Sms => &self.budget,
            Channel::Call => &self.call_budget,
        }
    }

    /// "Send me a code" (or "Call me instead") for the name typed. Known or not, allowed
    /// or not, the outcome looks the same: a new pending sign-in, or the same refusal.
    /// Only a user on the list for this room (and, for a call, allowed calls) triggers
    /// a send, in the background, so timing doesn't tell either.
    /// The session's previous sign-in, if any, is left as it is: it ends with its
    /// window like any other (see `pending::window_key`). `previous` is what it was,
    /// if read (a call asked for by a user not allowed calls keeps its verification,
    /// so the text's code still works).
    pub async fn begin(
        &self,
        visit: Visit<'_>,
        who: String,
        locale: Option<&str>,
        channel: Channel,
        previous: Option<&SignIn>,
    ) -> Result<SignInId, Refusal> {
        // A sign-in that can't be recorded is refused before it spends any limit, so
        // the name's codes are all there when the log works again.
        self.audit_log.health().map_err(Refusal::AuditDown)?;
        let listed = self.listed(&who, visit.room, channel);
        let sends_to = match &listed {
            Listed::May(_, phone) => Some(phone),
            _ => None,
        };
        // First round trip (one to Redis, all of it pipelined): the network's
        // admission, the reads (lockout, budget), and peeks at the limits that may be
        // spent only once the network's admission is in (the name's, everyone's
        // sign-ins, the number's), so a refusal spends nothing it shouldn't. A peek
        // that refuses is the refusal the admission would give.
        // The embedded store answers on the first poll, so a network past its limit
        // (a flood, nearly always) is refused before any of the rest is read. Redis's
        // first poll only queues the command, which then shares the round trip.
        let mut from_ip = std::pin::pin!(self.limiter.login_from_ip(visit.ip));
        let from_ip = match from_ip.as_mut().now_or_never() {
            Some(admitted) => {
                admitted?;
                None
            }
            None => Some(from_ip),
        };
        let (from_ip, locked, exhausted, for_user, pending, for_phone) = tokio::join!(
            async {
                match from_ip {
                    Some(admission) => admission.await,
                    None => Ok(()),
                }
            },
            self.limiter.locked_out(&who),
            self.budget_for(channel).exhausted(),
            self.limiter.peek_start_for_user(&who),
            self.limiter.peek_new_signin(),
            async {
                match sends_to {
                    Some(phone) => Some(self.limiter.peek_start_for_phone(phone).await),
                    None => None,
                }
            },
        );
        from_ip?;
        // Limits on the name typed apply whether or not anyone has that name.
        if let Some(left) = locked? {
            return Err(Refusal::LockedOut(left));
        }
        // A spent budget is global: everyone is told, whoever they are (but see the
        // README on the sign-in that spends its last unit). Checked
        // before the per-name limit, so a refusal here costs the name nothing.
        if let Some(wait) = exhausted? {
            let kind = self.budget_for(channel).kind();
            tracing::warn!(name: REPEATABLE, room = %visit.room, budget = kind.refusal_detail(), "sign-in refused: budget exhausted");
            return Err(Refusal::Budget(kind, wait));
        }
        // Likewise global: with Verify saturated or its breaker open, no code would go
        // out; saying so now beats a code page that waits for nothing.
        if let Some(wait) = self.verifier.busy() {
            return Err(Refusal::Busy(wait));
        }
        for_user?;
        pending?;
        // Second round trip: the admissions peeked at, the sign-in's record and its
        // audit record; then, for a name on the list, its number's limit and the budget. Every name waits for the same steps, so the
        // response takes as long whoever asks. The code goes out only once all of it
        // has succeeded.
        let (start, record) = self.start_for(visit, &who, listed, locale, channel, previous);
        // The number's sends and the budget are spent only once the name's admission
        // is in: spent alongside it, the losers of a race for one name could use up the
        // number's sends before its winner got there, which then sent nothing. Every
        // name waits for that one more round trip (where nothing is spent, a peek that
        // changes nothing), so the response still takes as long whoever asks.
        let spent_then_admitted = async {
            let spent =
                tokio::try_join!(self.limiter.start_for_user(&who), self.limiter.new_signin());
            let admitted = match (&spent, &start) {
                (Ok(_), Start::Send(req)) => self.admit_send(req, for_phone).await,
                _ => {
                    let _ = self.limiter.peek_new_signin().await;
                    Ok(())
                }
            };
            (spent, admitted)
        };
        let written = self
            .signins
            .record(visit.room.clone(), who.clone(), channel, &start);
        let ((spent, admitted), recorded, written) =
            tokio::join!(spent_then_admitted, self.audit_log.record(record), written);
        let (id, sign_in, window_failed) = match written {
            Ok(written) => written,
            Err(not) => {
                // Not written, but the name's last window was ended here: counted
                // all the same, as nobody else will.
                if let Some(sign_in) = &not.ended_unapproved
                    && let Err(e) = self.abandoned(sign_in).await
                {
                    tracing::warn!(error = %e, "an unapproved window was not counted as a failure");
                }
                return Err(not.error.into());
            }
        };
        if window_failed {
            // The name's last window, over and unapproved, ended here: a failed
            // verification, perhaps the one that locks (this sign-in goes on: a lock
            // stops the next).
            if let Err(e) = self.abandoned(&sign_in).await {
                tracing::warn!(error = %e, "an unapproved window was not counted as a failure");
            }
        }
        // Another request spent what the peek saw free (or the store failed): this
        // one is refused after all, and its record goes. A number's limit or budget
        // it spent stays spent: a race costs a unit, never lets one through.
        if let Err(denied) = spent {
            if let Err(e) = self.drop_refused(&id, &sign_in).await {
                tracing::warn!(error = %e, "a refused sign-in was not dropped; it expires");
            }
            return Err(denied.into());
        }
        // Known or not, a sign-in that can't be audited is refused the same way; the
        // one just written is dropped rather than left to expire as a failure.
        if let Err(e) = recorded {
            if let Err(e) = self.drop_refused(&id, &sign_in).await {
                tracing::warn!(error = %e, "an unaudited sign-in was not dropped; it expires");
            }
            return Err(Refusal::AuditDown(e));
        }
        match (start, admitted) {
            (Start::Send(req), Ok(())) => self.signins.send(id.clone(), sign_in, req),
            (Start::Send(_), Err(notice)) => self.signins.refuse(&id, sign_in, notice).await?,
            // Sends nothing new: a call to Verify stands in for the start.
            (Start::Nothing | Start::Keep(..), _) => {
                self.signins.stand_in(&id, sign_in, self.start_wait);
            }
            _ => {}
        }
        Ok(id)
    }

    /// A sign-in refused as it was made: it goes, and so does the window it opened.
    async fn drop_refused(&self, id: &SignInId, sign_in: &SignIn) -> Result<(), StoreError> {
        tokio::try_join!(
            self.signins.remove(id),
            self.signins.end_opened(id, sign_in)
        )
        .map(drop)
    }

    /// What the list says of the name typed, for `room` and `channel`. Nothing here
    /// waits.
    fn listed(&self, who: &str, room: &RoomName, channel: Channel) -> Listed {
        let Ok(username) = Username::parse(who) else {
            return Listed::No(None);
        };
        let acl = self.acl.load();
        match acl.allowed(&username, room) {
            None => Listed::No(Some(username)),
            Some(user) if user.may_use(channel) => Listed::May(username, user.phone.clone()),
            Some(_) => Listed::NotThisChannel(username),
        }
    }

    /// Whether to send a code, and the sign-in's audit record. Nothing here waits.
    fn start_for(
        &self,
        visit: Visit<'_>,
        who: &str,
        listed: Listed,
        locale: Option<&str>,
        channel: Channel,
        previous: Option<&SignIn>,
    ) -> (Start, AuditRecord) {
        let Visit { room, ip } = visit;
        let user = self.pseudonyms.of(who);
        let record = AuditRecord::new(AuditEvent::SignInRequested)
            .room(room)
            .ip(ip);
        let (username, phone) = match listed {
            Listed::No(username) => {
                tracing::info!(%user, %room, "sign-in requested for a user not on the list");
                let record = match &username {
                    Some(u) => record.user(u),
                    None => record,
                };
                return (Start::Nothing, record.detail("not_on_list"));
            }
            Listed::NotThisChannel(username) => {
                // A call for a user allowed only texts: nothing is sent, and the page
                // looks the same. The text's verification, if there is one, stays the
                // one to check.
                tracing::info!(%user, %room, %channel, "code asked for on a channel the user may not use");
                let record = record
                    .user(&username)
                    .detail(format!("{channel}_not_allowed"));
                let kept = previous.and_then(|p| match p.state() {
                    StartState::Sent(sid) if p.username.as_ref() == Some(&username) => {
                        Some(Start::Keep(username.clone(), sid.clone(), p.phone.clone()))
                    }
                    _ => None,
                });
                return (kept.unwrap_or(Start::Nothing), record);
            }
            Listed::May(username, phone) => (username, phone),
        };
        tracing::info!(%user, %room, %channel, "sign-in requested");
        let detail = match channel {
            Channel::Sms => "on_list",
            Channel::Call => "on_list_call",
        };
        let record = record.user(&username).phone(&phone).detail(detail);
        let req = CodeRequest {
            username,
            log_user: user,
            phone_fingerprint: self.phone_key.fingerprint(&phone),
            phone,
            channel,
            locale: locale.map(str::to_owned),
            room: room.clone(),
            ip,
        };
        (Start::Send(req), record)
    }

    /// What must allow a send: the limit on the number (peeked at in the first round
    /// trip: `peeked`), and the global budget, spent together. What they refuse
    /// concerns a real user's number, so it is told on the code page, not in the
    /// sign-in's response (`Err` is that page's notice). Spending the budget alongside
    /// the number's admission saves a round trip; when another request took the
    /// number's last send since the peek, the unit of budget spent stays spent.
    async fn admit_send(
        &self,
        req: &CodeRequest,
        peeked: Option<Result<(), Denied>>,
    ) -> Result<(), Notice> {
        if let Some(Err(denied)) = peeked {
            return Err(self.send_refused(req, denied).await);
        }
        let budget = self.budget_for(req.channel);
        let (for_phone, spent) =
            tokio::join!(self.limiter.start_for_phone(&req.phone), budget.spend());
        if let Err(denied) = for_phone {
            return Err(self.send_refused(req, denied).await);
        }
        let room = &req.room;
        match spent {
            Ok(Ok(())) => Ok(()),
            Ok(Err(wait)) => {
                let detail = budget.kind().refusal_detail();
                tracing::warn!(name: REPEATABLE, user = %req.log_user, %room, budget = detail, "sign-in refused: budget exhausted");
                self.metrics.limited(LimitKind::Budget);
                self.audit(send_limited(req, detail)).await;
                Err(Notice::busy(wait))
            }
            Err(e) => {
                tracing::error!(%room, error = %e, "no code sent: the store is unavailable");
                self.metrics.store_refusal();
                Err(Notice::Unavailable)
            }
        }
    }

    /// A send the number's limit (or a failing store) refused: counted, audited, and
    /// the code page's notice.
    async fn send_refused(&self, req: &CodeRequest, denied: Denied) -> Notice {
        let room = &req.room;
        match denied {
            Denied::Store(e) => {
                tracing::error!(%room, error = %e, "no code sent: the store is unavailable");
                self.metrics.store_refusal();
                Notice::Unavailable
            }
            Denied::Limited(limit) => {
                tracing::info!(user = %req.log_user, %room, phone = %req.phone.masked(), limit = limit.action.kind(), "sign-in limited");
                self.metrics.limited(limit.action.into());
                self.audit(send_limited(req, limit.action.kind())).await;
                Notice::limited(&limit)
            }
        }
    }

    /// The pending sign-in a code may be checked against: the per-network limit, then the
    /// session's sign-in (`None`: expired or never begun). The name's lockout is judged
    /// by [`Self::check`].
    pub async fn admit_check(
        &self,
        visit: Visit<'_>,
        pending: Option<SignInId>,
    ) -> Result<Option<(SignInId, SignIn)>, Refusal> {
        // The read goes along with the admission (one round trip, not two).
        let (from_ip, found) = tokio::join!(
            self.limiter.check_from_ip(visit.ip),
            self.signins.find(pending.as_ref(), visit.room),
        );
        from_ip?;
        let (Some(id), Some(sign_in)) = (pending, found?) else {
            return Ok(None);
        };
        Ok(Some((id, sign_in)))
    }

    /// One code check of a pending sign-in, unless the name is locked out. `elevate`
    /// gives the session what an approval earns; it runs only on approval, alongside
    /// the sign-in's removal and audit record, and if it fails the approval is lost
    /// (the participant is told to try again).
    pub async fn check(
        &self,
        visit: Visit<'_>,
        id: SignInId,
        sign_in: SignIn,
        code: &OtpCode,
        elevate: impl Future<Output = anyhow::Result<()>>,
    ) -> Result<Checked, Refusal> {
        // An approval can't be granted unrecorded: with the audit log down, the code
        // is not spent on one (Verify would use it up), and may be tried again.
        self.audit_log.health().map_err(Refusal::AuditDown)?;
        let mut attempt = Attempt {
            service: self,
            visit,
            user: self.pseudonyms.of(&sign_in.who),
            id,
            sign_in,
            window: None,
        };
        // One check of a sign-in at a time here. One that waited for another looks
        // again: the other may have been approved, which ended the sign-in.
        let turn = self.checking.take(&attempt.id).await;
        if turn.waited {
            match self.signins.get(&attempt.id, visit.room).await? {
                Some(now) => attempt.sign_in = now,
                None => return Ok(Checked::Superseded),
            }
        }
        // Ended before, for good or at its start: say why again (its window, ended
        // with it, is not touched).
        if let StartState::Failed(notice) = attempt.sign_in.state() {
            self.refuse_locked(self.limiter.locked_out(&attempt.sign_in.who).await?)?;
            return Ok(Checked::Ended(*notice));
        }
        // A start still in flight, as the store had it, after longer than any start
        // takes may have been lost (its outcome never saved: the save failed, or its
        // instance died). Such a sign-in waits for it before spending a check, and
        // ends, spending and counting nothing, if it was. (Each post waited out the
        // start and spent one, until the fifth locked the name.) Any other takes its
        // check while its start finishes, in one round trip with the lockout's.
        let suspect = matches!(attempt.sign_in.state(), StartState::InFlight)
            && attempt.sign_in.age(self.signins.now_ms()) >= self.start_wait;
        let (locked, taken) = tokio::join!(self.limiter.locked_out(&attempt.sign_in.who), async {
            if suspect {
                None
            } else {
                Some(self.signins.take_check(&attempt.sign_in).await)
            }
        },);
        // A check taken while the name is locked is given back: a lock shorter than
        // a sign-in's ten minutes (`ROOMGATE_LOCKOUT_SECS`) ends while it is pending,
        // and its window's checks are what its code has left.
        if let Err(refusal) = self.refuse_locked(locked?) {
            if let Some(Ok(Checks::Left { window, .. })) = &taken
                && let Err(e) = self.signins.give_back_check(&attempt.sign_in, window).await
            {
                tracing::warn!(error = %e, "a check taken while locked out was not given back");
            }
            return Err(refusal);
        }
        let mut started = None;
        let taken = match taken {
            Some(taken) => taken?,
            None => {
                let state = self
                    .signins
                    .started(&attempt.id, &attempt.sign_in, self.start_wait)
                    .await?;
                if let StartState::Failed(notice) = state {
                    if self
                        .signins
                        .lost(&attempt.id, &attempt.sign_in, self.start_wait)
                    {
                        tracing::warn!(user = %attempt.user, room = %visit.room, "sign-in ended: its start's outcome was lost");
                        self.signins
                            .close(&attempt.id, &attempt.sign_in, Notice::Expired, None)
                            .await?;
                        return Ok(Checked::Ended(Notice::Expired));
                    }
                    return Ok(Checked::Ended(notice));
                }
                started = Some(state);
                self.signins.take_check(&attempt.sign_in).await?
            }
        };
        // Judged by the name's window, as Verify judges a number's verification, for
        // every name: what Verify would answer (all checks spent by an earlier sign-in
        // of the name, or expired), without asking it, and a failed verification as
        // Verify's answer would make it.
        attempt.window = taken.window().cloned();
        let left = match taken {
            Checks::Left { left, .. } => left,
            Checks::UsedUp { .. } => return attempt.failed(Notice::TooManyAttempts).await,
            Checks::Over { stale } => return attempt.over(stale).await,
        };
        let started = match started {
            Some(started) => started,
            None => {
                self.signins
                    .started(&attempt.id, &attempt.sign_in, self.start_wait)
                    .await?
            }
        };
        let sid = match started {
            StartState::Sent(sid) if attempt.sign_in.kept => {
                // Nothing was started for it: wait what a start would have taken,
                // as anyone else's "Call me instead" that sent nothing does.
                let age = attempt.sign_in.age(self.signins.now_ms());
                let rest = self.signins.pace.start_left(age, self.start_wait);
                tokio::time::sleep(rest).await;
                sid
            }
            StartState::Sent(sid) => sid,
            // The start failed (or its outcome never came): no code to judge.
            StartState::Failed(notice) => {
                attempt.not_judged().await;
                return Ok(Checked::Ended(notice));
            }
            // Nothing sent: the same answers a wrong code gets. Verify is asked
            // something that changes nothing in the check's place, and answered in a
            // check's time; if that fails, it answers as a check that failed so would.
            StartState::NotSent | StartState::InFlight => {
                let pace = &self.signins.pace;
                let began = tokio::time::Instant::now();
                match self.signins.stand_ins.call().await {
                    Ok(()) => tokio::time::sleep(pace.check_left(began.elapsed())).await,
                    Err(err) => return self.check_failed(&attempt, err).await,
                }
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
        let began = tokio::time::Instant::now();
        let checked = self.verifier.check(&sid, code).await;
        // For the checks of sign-ins that sent nothing: how long, and whether Verify
        // is down (see `pace`).
        let pace = &self.signins.pace;
        match &checked {
            // Out of service (our guard's refusal among them): marked, not measured.
            Err(err) if err.is_outage() => pace.down(),
            Ok(_) | Err(_) => pace.check_answered(began.elapsed()),
        }
        match checked {
            Ok(CheckOutcome::Approved) => {
                // Removed from the list while typing the code: approved, but no entry.
                // Likewise if the list's number changed since the code was sent: the
                // code proves the number it went to, and the old one's holder must not
                // come in as whoever holds the new one (a passkey bound to it, say).
                let now_proves = {
                    let acl = self.acl.load();
                    acl.allowed(&username, room)
                        .map(|u| (self.phone_key.fingerprint(&u.phone), u.phone.clone()))
                };
                let Some((phone, number)) = now_proves else {
                    attempt.end_approved().await?;
                    tracing::info!(%user, %room, "code approved for a user no longer on the list");
                    return Ok(Checked::Ended(Notice::Expired));
                };
                if attempt.sign_in.phone.as_deref() != Some(phone.as_str()) {
                    attempt.end_approved().await?;
                    tracing::info!(%user, %room, "code approved for a number no longer the user's");
                    return Ok(Checked::Ended(Notice::Expired));
                }
                tracing::info!(%user, %room, "code approved");
                self.metrics.verification_approved();
                // The sign-in's removal, the session's elevation (a revocation in the
                // store) and the audit record (its own file): all at once. Unless all
                // three are done, the caller undoes the elevation: no approval is
                // granted unrecorded.
                let (ended, recorded, elevated) =
                    tokio::join!(attempt.end_approved(), attempt.approved(&number), elevate);
                ended?;
                if let Err(e) = elevated {
                    // Not verified after all: the old cookie's revocation wasn't recorded.
                    tracing::error!(%user, %room, error = %e, "session not elevated");
                    return Ok(Checked::Ended(Notice::Unavailable));
                }
                if recorded.is_err() {
                    // The writer has logged the audit log's failure; this says what it cost.
                    tracing::warn!(%user, %room, "code approved but not recorded: no entry");
                    return Ok(Checked::Ended(Notice::Unavailable));
                }
                // A sign-in is approved once the session is verified and recorded.
                self.metrics.sign_in_approved(SignInMethod::Code);
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
            Err(err) => self.check_failed(&attempt, err).await,
        }
    }

    /// A check Verify failed, or (for a sign-in that sent nothing) Verify failing the
    /// call asked in its place: what the participant is told, and what it costs.
    async fn check_failed(
        &self,
        attempt: &Attempt<'_>,
        err: VerifyError,
    ) -> Result<Checked, Refusal> {
        let (user, room) = (&attempt.user, attempt.visit.room);
        match err {
            // Not found at Verify, and not in the store any more either: another
            // check of this sign-in (on another instance, say) was approved while this
            // one was on its way, and Verify deleted the verification. No failure.
            VerifyError::NotFound(_) if self.signins.get(&attempt.id, room).await?.is_none() => {
                tracing::info!(%user, %room, "code check of a sign-in ended meanwhile");
                Ok(Checked::Superseded)
            }
            // Not found at Verify, the sign-in still here: approved by another check
            // an instant ago (on another instance, its removal not landed yet), or
            // expired at Verify. Not a failure of this check's: the sign-in ends, its
            // window is left, and counted by the sweep only if nobody was approved
            // in it. (Ended here, a double click across two instances could count a
            // failure against someone who had just signed in.)
            VerifyError::NotFound(_) => {
                tracing::info!(%user, %room, "code check found no verification at the verifier");
                attempt.end(Notice::Expired).await?;
                Ok(Checked::Ended(Notice::Expired))
            }
            err => {
                let notice = match &err {
                    // The account's request rate, not this code's: passing, so busy,
                    // and the same code may be tried again (the sign-in is kept).
                    VerifyError::RateLimited(_) => Notice::Unavailable,
                    err => Notice::from_verify_error(err),
                };
                tracing::warn!(
                    %user, %room,
                    twilio_code = ?err.twilio_code(), error = %err, notice = notice.kind(),
                    "code check failed at the verifier"
                );
                match notice {
                    // A busy service may be retried with the same code, and the check
                    // it took comes back if Verify surely didn't judge it: an outage
                    // costs no attempt. (A timeout or an answer not understood may
                    // have been judged, and counted by Verify: it stays spent.)
                    Notice::Unavailable => {
                        if err.left_the_code_unjudged() {
                            attempt.not_judged().await;
                        }
                        Ok(Checked::Ended(notice))
                    }
                    Notice::TooManyAttempts | Notice::Expired => attempt.failed(notice).await,
                    _ => {
                        self.metrics.verification_failed(notice.fail_reason());
                        attempt.end(notice).await?;
                        Ok(Checked::Ended(notice))
                    }
                }
            }
        }
    }
}

impl SignInService {
    /// A lockout of the name, if `locked` says there is one: counted, and refused.
    fn refuse_locked(&self, locked: Option<Duration>) -> Result<(), Refusal> {
        match locked {
            Some(left) => {
                self.metrics.limited(LimitKind::LockedOut);
                Err(Refusal::LockedOut(left))
            }
            None => Ok(()),
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
    /// The name's window this check was taken in (see [`Checks`]): it ends with the
    /// verification.
    window: Option<Window>,
}

impl Attempt<'_> {
    /// The code was not judged (Verify down, busy or its breaker open, for a name
    /// with a code or, alike, one without; or its start failed): the check it took is
    /// given back.
    async fn not_judged(&self) {
        let Some(window) = &self.window else { return };
        if let Err(e) = self
            .service
            .signins
            .give_back_check(&self.sign_in, window)
            .await
        {
            tracing::warn!(error = %e, "a check Verify never judged was not given back");
        }
    }

    async fn wrong(&self, left: u8) -> Result<Checked, Refusal> {
        self.service
            .metrics
            .verification_failed(FailReason::WrongCode);
        self.audit(AuditEvent::CheckFailed, "wrong_code").await;
        Ok(Checked::Wrong { left })
    }

    /// The verification failed for good (exhausted or expired): it counts toward a
    /// lockout, and this failure may be the one that locks. Counted by whoever ends
    /// the window, once: not again by a second tab's check (or one on another
    /// instance) that finds it spent too.
    async fn failed(&self, notice: Notice) -> Result<Checked, Refusal> {
        let ended = self.close(notice, self.window.as_ref()).await?;
        self.counted(ended, notice).await
    }

    /// A check posted after the sign-in's window is over. It counts as a failure only
    /// if it is what ends the window (see `pending::window_key`): one the sweep or a
    /// later sign-in ended has been counted, and one an approval ended is none.
    async fn over(&self, stale: Option<Window>) -> Result<Checked, Refusal> {
        let ended = match &stale {
            Some(Window(window)) => {
                self.service
                    .signins
                    .end_unapproved(&self.sign_in.who, window)
                    .await?
            }
            None => false,
        };
        self.close(Notice::Expired, None).await?;
        self.counted(ended, Notice::Expired).await
    }

    /// Closes the sign-in with `notice`, and `window` with it if it is still the
    /// name's: whether that ended the window. A failed check, in the metrics and the
    /// audit log.
    async fn close(&self, notice: Notice, window: Option<&Window>) -> Result<bool, StoreError> {
        let ended = self
            .service
            .signins
            .close(&self.id, &self.sign_in, notice, window)
            .await?;
        self.service
            .metrics
            .verification_failed(notice.fail_reason());
        self.audit(AuditEvent::CheckFailed, notice.kind()).await;
        Ok(ended)
    }

    /// The check's answer: `notice`, and, when this check `ended` the window, its
    /// failure counted, perhaps the one that locks.
    async fn counted(&self, ended: bool, notice: Notice) -> Result<Checked, Refusal> {
        if !ended {
            return Ok(Checked::Ended(notice));
        }
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
        self.service.audit(self.record(event).detail(detail)).await;
    }

    /// The approval, with the number the code proved (as the passkey's approval has
    /// `method=passkey`). Unlike other records, its failure is the caller's: an
    /// approval that can't be recorded is not granted.
    async fn approved(&self, number: &PhoneNumber) -> Result<(), AuditError> {
        let record = self
            .record(AuditEvent::CheckApproved)
            .detail("method=code")
            .phone(number);
        self.service.audit_log.record(record).await
    }

    fn record(&self, event: AuditEvent) -> AuditRecord {
        let record = AuditRecord::new(event)
            .room(self.visit.room)
            .ip(self.visit.ip);
        match Username::parse(&self.sign_in.who) {
            Ok(u) => record.user(&u),
            Err(_) => record,
        }
    }

    /// Ends the sign-in for a reason that is not a failure (Verify can't send to the
    /// number, say). Closed, not dropped: its window, if it opened it, is still there
    /// for the sweep to count if nobody is approved in it.
    async fn end(&self, notice: Notice) -> Result<(), StoreError> {
        self.service
            .signins
            .close(&self.id, &self.sign_in, notice, None)
            .await
            .map(drop)
    }

    /// Ends the sign-in and, with Verify's verification approved, its name's window.
    async fn end_approved(&self) -> Result<(), StoreError> {
        self.service
            .signins
            .remove_approved(&self.id, &self.sign_in, self.window.as_ref())
            .await
    }
}
