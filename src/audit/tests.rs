//! The audit log end to end: records written, sealed, read back and filtered.

use std::collections::HashSet;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::record::{MAX_LABEL_CHARS, StoredRecord};
use super::seal::PhoneView;
use super::show::render;
use super::*;
use crate::clock::ManualClock;
use crate::domain::{PhoneNumber, RoomName, Username};
use crate::test_support::TempDir;

const KEY_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const OTHER_KEY_B64: &str = "HxwdGhsYGRYXFBUSExAREA4PDA0KCwgJBgcEBQIDAAE=";
const PHONE: &str = "+14155550101";

impl TempDir {
    fn file(&self) -> PathBuf {
        self.0.join("audit.log")
    }
}

fn key() -> AuditKey {
    AuditKey::from_base64(KEY_B64).unwrap()
}

fn alice() -> Username {
    Username::parse("alice").unwrap()
}

fn standup() -> RoomName {
    RoomName::parse("standup").unwrap()
}

fn phone() -> PhoneNumber {
    PhoneNumber::parse(PHONE).unwrap()
}

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn options(file: PathBuf) -> ShowOptions {
    ShowOptions {
        file,
        since: None,
        user: None,
        room: None,
        key: None,
    }
}

/// (stdout, stderr) of a `show`.
fn run_show(opts: ShowOptions) -> (String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    show_with_warnings(opts, &mut out, &mut err).unwrap();
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn records_round_trip_with_the_phone_sealed() {
    let dir = TempDir::new("audit-unit");
    let clock = Arc::new(ManualClock::new(at(1_795_334_400)));
    let log = AuditLog::open(&dir.file(), Some(key()))
        .unwrap()
        .with_clock(clock.clone());
    log.record(
        AuditRecord::new(AuditEvent::CheckApproved)
            .user(&alice())
            .room(&standup())
            .ip("203.0.113.7".parse().unwrap())
            .phone(&phone())
            .detail("approved"),
    )
    .await
    .unwrap();

    let stored = lines(&dir.file());
    assert_eq!(stored.len(), 1);
    let rec = &stored[0];
    assert_eq!(rec["time"], "2026-11-22T08:00:00Z");
    assert_eq!(rec["event"], "check_approved");
    assert_eq!(rec["username"], "alice");
    assert_eq!(rec["room"], "standup");
    assert_eq!(rec["ip"], "203.0.113.7");
    assert_eq!(rec["detail"], "approved");
    assert_eq!(rec["phone"]["kid"], key().id());
    let nonce = STANDARD
        .decode(rec["phone"]["nonce"].as_str().unwrap())
        .unwrap();
    assert_eq!(nonce.len(), 12);

    let mut opts = options(dir.file());
    opts.key = Some(key());
    let (out, err) = run_show(opts);
    assert_eq!(
        out,
        "2026-11-22T08:00:00Z check_approved      user=alice room=standup ip=203.0.113.7 detail=approved phone=+14155550101\n"
    );
    assert_eq!(err, "");
}

#[tokio::test]
async fn the_same_number_never_gives_the_same_ciphertext() {
    let dir = TempDir::new("audit-unit");
    let clock = Arc::new(ManualClock::default());
    let log = AuditLog::open(&dir.file(), Some(key()))
        .unwrap()
        .with_clock(clock);
    for _ in 0..2 {
        let rec = AuditRecord::new(AuditEvent::CodeSent)
            .user(&alice())
            .phone(&phone());
        log.record(rec).await.unwrap();
    }
    let stored = lines(&dir.file());
    assert_eq!(stored[0]["time"], stored[1]["time"]);
    assert_ne!(stored[0]["phone"]["nonce"], stored[1]["phone"]["nonce"]);
    assert_ne!(stored[0]["phone"]["ct"], stored[1]["phone"]["ct"]);
}

#[tokio::test]
async fn the_file_never_holds_the_number_in_any_plain_form() {
    let dir = TempDir::new("audit-unit");
    for key in [Some(key()), None] {
        let log = AuditLog::open(&dir.file(), key).unwrap();
        for event in [AuditEvent::SignInRequested, AuditEvent::CodeSent] {
            let rec = AuditRecord::new(event).user(&alice()).phone(&phone());
            log.record(rec).await.unwrap();
        }
    }
    let text = std::fs::read_to_string(dir.file()).unwrap();
    assert_eq!(text.lines().count(), 4);
    for plain in [
        PHONE,
        "14155550101",
        "4155550101",
        "5550101",
        "+1********01",
    ] {
        assert!(!text.contains(plain), "{plain} in {text}");
    }
}

#[tokio::test]
async fn without_a_key_the_phone_is_left_out() {
    let dir = TempDir::new("audit-unit");
    let log = AuditLog::open(&dir.file(), None).unwrap();
    let rec = AuditRecord::new(AuditEvent::CodeSent)
        .user(&alice())
        .phone(&phone());
    log.record(rec).await.unwrap();
    let stored = lines(&dir.file());
    assert!(stored[0].get("phone").is_none(), "{}", stored[0]);
    assert_eq!(stored[0]["username"], "alice");
    let mut opts = options(dir.file());
    opts.key = Some(key());
    let (out, _) = run_show(opts);
    assert!(!out.contains("phone="), "{out}");
}

async fn one_sealed_record(dir: &TempDir) {
    let log = AuditLog::open(&dir.file(), Some(key())).unwrap();
    let rec = AuditRecord::new(AuditEvent::CheckApproved)
        .user(&alice())
        .room(&standup())
        .phone(&phone());
    log.record(rec).await.unwrap();
}

fn edit_record(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut rec = lines(path).remove(0);
    edit(&mut rec);
    std::fs::write(path, format!("{rec}\n")).unwrap();
}

#[tokio::test]
async fn tampered_ciphertext_or_fields_do_not_decrypt() {
    let dir = TempDir::new("audit-unit");
    one_sealed_record(&dir).await;
    edit_record(&dir.file(), |rec| {
        let mut ct = STANDARD
            .decode(rec["phone"]["ct"].as_str().unwrap())
            .unwrap();
        ct[0] ^= 1;
        rec["phone"]["ct"] = STANDARD.encode(ct).into();
    });
    let mut opts = options(dir.file());
    opts.key = Some(key());
    let (out, err) = run_show(opts);
    assert!(
        out.contains("phone=<cannot decrypt: record altered or damaged>"),
        "{out}"
    );
    assert!(!out.contains(PHONE));
    assert!(err.contains("1 phone numbers did not decrypt"), "{err}");

    // The sealed number belongs to its record: moving it to another user fails.
    let dir = TempDir::new("audit-unit");
    one_sealed_record(&dir).await;
    edit_record(&dir.file(), |rec| rec["username"] = "mallory".into());
    let mut opts = options(dir.file());
    opts.key = Some(key());
    let (out, _) = run_show(opts);
    assert!(out.contains("user=mallory"), "{out}");
    assert!(out.contains("altered or damaged"), "{out}");
    assert!(!out.contains(PHONE));
}

#[tokio::test]
async fn a_wrong_key_is_named_per_record_and_nothing_aborts() {
    let dir = TempDir::new("audit-unit");
    one_sealed_record(&dir).await;
    one_sealed_record(&dir).await;
    let wrong = AuditKey::from_base64(OTHER_KEY_B64).unwrap();
    let wrong_id = wrong.id();
    let mut opts = options(dir.file());
    opts.key = Some(wrong);
    let (out, err) = run_show(opts);
    assert_eq!(out.lines().count(), 2, "{out}");
    for line in out.lines() {
        assert!(
            line.ends_with(&format!(
                "phone=<wrong key: sealed with key {}, given key {wrong_id}>",
                key().id()
            )),
            "{line}"
        );
    }
    assert!(err.contains("2 phone numbers were sealed with another key"));

    let (out, err) = run_show(options(dir.file()));
    assert!(
        out.lines().all(|l| l.ends_with("phone=<encrypted>")),
        "{out}"
    );
    assert_eq!(err, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_records_are_all_there_each_on_its_own_line() {
    let dir = TempDir::new("audit-unit");
    let log = AuditLog::open(&dir.file(), Some(key())).unwrap();
    let tasks: Vec<_> = (0..20)
        .map(|task| {
            let log = log.clone();
            tokio::spawn(async move {
                for n in 0..10 {
                    let rec = AuditRecord::new(AuditEvent::TokenMinted)
                        .user(&alice())
                        .phone(&phone())
                        .detail(format!("t{task}-n{n}"));
                    log.record(rec).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let text = std::fs::read_to_string(dir.file()).unwrap();
    assert!(text.ends_with('\n'));
    let details: HashSet<String> = text
        .lines()
        .map(|l| {
            let rec: serde_json::Value = serde_json::from_str(l).expect(l);
            rec["detail"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(text.lines().count(), 200);
    assert_eq!(details.len(), 200);

    let mut opts = options(dir.file());
    opts.key = Some(key());
    let (out, err) = run_show(opts);
    assert_eq!(out.matches("phone=+14155550101").count(), 200);
    assert_eq!(err, "");
}

#[tokio::test]
async fn a_record_is_on_disk_when_record_returns() {
    let dir = TempDir::new("audit-unit");
    let log = AuditLog::open(&dir.file(), None).unwrap();
    for n in 0..20 {
        let rec = AuditRecord::new(AuditEvent::Limited).detail(format!("n{n}"));
        log.record(rec).await.unwrap();
        // Read through a separate handle, as another process would.
        let text = std::fs::read_to_string(dir.file()).unwrap();
        let last = text.lines().last().unwrap();
        assert!(last.contains(&format!("\"detail\":\"n{n}\"")), "{last}");
        assert!(text.ends_with('\n'));
    }
}

#[tokio::test]
async fn records_keep_the_order_they_were_recorded_in() {
    let dir = TempDir::new("audit-unit");
    let log = AuditLog::open(&dir.file(), None).unwrap();
    let pending: Vec<_> = (0..50)
        .map(|n| log.record(AuditRecord::new(AuditEvent::Limited).detail(format!("{n}"))))
        .collect();
    // Queued in this order when each future first runs; join_all polls in order.
    futures_util::future::join_all(pending).await;
    let order: Vec<String> = lines(&dir.file())
        .iter()
        .map(|r| r["detail"].as_str().unwrap().to_owned())
        .collect();
    let expected: Vec<String> = (0..50).map(|n| n.to_string()).collect();
    assert_eq!(order, expected);
}

#[tokio::test]
async fn a_cut_off_last_line_is_skipped_with_a_warning() {
    let dir = TempDir::new("audit-unit");
    one_sealed_record(&dir).await;
    one_sealed_record(&dir).await;
    let mut text = std::fs::read_to_string(dir.file()).unwrap();
    let second = text.find('\n').unwrap() + 1;
    text.truncate(second + 40);
    std::fs::write(dir.file(), &text).unwrap();
    let (out, err) = run_show(options(dir.file()));
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(err.contains(":2: the last line is cut off"), "{err}");

    // Appending again starts on a fresh line, so only the cut line is lost.
    one_sealed_record(&dir).await;
    let (out, err) = run_show(options(dir.file()));
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(err.contains(":2: an incomplete record"), "{err}");
}

#[tokio::test]
async fn other_undecodable_lines_are_reported_by_number() {
    let dir = TempDir::new("audit-unit");
    one_sealed_record(&dir).await;
    let mut bytes = std::fs::read(dir.file()).unwrap();
    bytes.extend_from_slice(b"not json at all\n{\"event\":\"x\"}\n\xff\xfe\n\n");
    bytes.extend_from_slice(br#"{"time":"yesterday","event":"limited"}"#);
    bytes.push(b'\n');
    std::fs::write(dir.file(), &bytes).unwrap();
    one_sealed_record(&dir).await;
    let (out, err) = run_show(options(dir.file()));
    assert_eq!(out.lines().count(), 2, "{out}");
    let name = dir.file().display().to_string();
    assert!(err.contains(&format!("{name}:2: not valid JSON")), "{err}");
    assert!(
        err.contains(&format!(
            "{name}:3: not an audit record (missing field `time`"
        )),
        "{err}"
    );
    assert!(err.contains(&format!("{name}:4: not UTF-8")), "{err}");
    assert!(
        err.contains(&format!("{name}:6: the time is not RFC 3339")),
        "{err}"
    );
    assert_eq!(err.lines().count(), 4, "{err}");
}

#[tokio::test]
async fn filters_by_time_user_and_room() {
    let dir = TempDir::new("audit-unit");
    let start = at(1_795_334_400); // 2026-11-22T08:00:00Z
    let clock = Arc::new(ManualClock::new(start));
    let log = AuditLog::open(&dir.file(), Some(key()))
        .unwrap()
        .with_clock(clock.clone());
    let bob = Username::parse("bob").unwrap();
    let hands = RoomName::parse("all-hands").unwrap();
    for (user, room) in [
        (&alice(), &standup()),
        (&bob, &standup()),
        (&alice(), &hands),
    ] {
        let rec = AuditRecord::new(AuditEvent::TokenMinted)
            .user(user)
            .room(room);
        log.record(rec).await.unwrap();
        clock.advance(Duration::from_secs(3600));
    }
    log.record(AuditRecord::new(AuditEvent::AclReloaded).detail("3 users"))
        .await
        .unwrap();

    let show = |edit: &dyn Fn(&mut ShowOptions)| {
        let mut opts = options(dir.file());
        edit(&mut opts);
        run_show(opts).0
    };
    assert_eq!(show(&|_| {}).lines().count(), 4);
    let alices = show(&|o| o.user = Some(" Alice ".into()));
    assert_eq!(alices.lines().count(), 2, "{alices}");
    assert!(alices.lines().all(|l| l.contains("user=alice")));
    let standups = show(&|o| o.room = Some("standup".into()));
    assert_eq!(standups.lines().count(), 2);
    let both = show(&|o| {
        o.user = Some("alice".into());
        o.room = Some("standup".into());
    });
    assert_eq!(both.lines().count(), 1);
    let recent = show(&|o| o.since = Some(start + Duration::from_secs(3600)));
    assert_eq!(recent.lines().count(), 3, "{recent}");
    assert!(
        recent.starts_with("2026-11-22T09:00:00Z token_minted"),
        "{recent}"
    );
    assert!(
        recent.ends_with("2026-11-22T11:00:00Z acl_reloaded        detail=\"3 users\"\n"),
        "{recent}"
    );
}

#[tokio::test]
async fn room_events_carry_the_twilio_event_name() {
    let dir = TempDir::new("audit-unit");
    let log = AuditLog::open(&dir.file(), None).unwrap();
    let rec = AuditRecord::room_event("participant-connected")
        .room(&standup())
        .user(&alice());
    log.record(rec).await.unwrap();
    let stored = lines(&dir.file());
    assert_eq!(stored[0]["event"], "room_event");
    assert_eq!(stored[0]["status_callback_event"], "participant-connected");
    let (out, _) = run_show(options(dir.file()));
    assert!(out.contains("callback=participant-connected"), "{out}");
}

#[test]
fn odd_values_are_quoted_so_they_cannot_forge_fields_or_escape_codes() {
    let rec = StoredRecord {
        time: "2026-11-22T08:00:00Z".into(),
        event: "limited".into(),
        username: Some("eve phone=+1555".into()),
        room: None,
        ip: None,
        detail: Some("\u{1b}[2J".into()),
        status_callback_event: None,
        phone: None,
        count: None,
        first: None,
        last: None,
    };
    let line = render(&rec, &PhoneView::Absent);
    assert!(line.contains(r#"user="eve phone=+1555""#), "{line}");
    assert!(line.contains(r#"detail="\u{1b}[2J""#), "{line}");
}

#[test]
fn labels_are_cut_short() {
    let rec = AuditRecord::new(AuditEvent::Limited).detail("x".repeat(1000));
    assert_eq!(rec.detail.unwrap().len(), MAX_LABEL_CHARS);
}

#[cfg(unix)]
#[tokio::test]
async fn the_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("audit-unit");
    AuditLog::open(&dir.file(), None).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.file()), 0o600);
    std::fs::set_permissions(dir.file(), std::fs::Permissions::from_mode(0o644)).unwrap();
    AuditLog::open(&dir.file(), None).unwrap();
    assert_eq!(mode(&dir.file()), 0o600);
}

#[tokio::test]
async fn disabled_records_nothing() {
    let log = AuditLog::disabled();
    log.record(AuditRecord::new(AuditEvent::CodeSent).phone(&phone()))
        .await
        .unwrap();
    assert!(format!("{log:?}").contains("enabled: false"));
}

#[test]
fn keys_are_32_bytes_of_base64_and_never_echoed() {
    assert!(AuditKey::from_base64(&format!(" {KEY_B64}\n")).is_ok());
    let short = "c2hvcnQtc2VjcmV0LXZhbHVl";
    let err = AuditKey::from_base64(short).unwrap_err();
    assert!(err.contains("decodes to 18 bytes"), "{err}");
    assert!(!err.contains(short));
    // base64's own message would name the bad character ('-' is symbol 45).
    let err = AuditKey::from_base64("not-base64-at-all").unwrap_err();
    assert_eq!(
        err,
        "is not valid standard base64 (make a key with `openssl rand -base64 32`)"
    );
    assert_eq!(format!("{:?}", key()), "AuditKey([REDACTED])");
    assert_eq!(key().id().len(), 8);
    assert_ne!(
        key().id(),
        AuditKey::from_base64(OTHER_KEY_B64).unwrap().id()
    );
}

fn config(vars: &[(&str, &str)]) -> Result<AuditConfig, Vec<String>> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    AuditConfig::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
}

#[test]
fn config_reads_the_path_and_the_key_from_a_variable_or_a_file() {
    let c = config(&[]).unwrap();
    assert_eq!(c.path, PathBuf::from("audit.log"));
    assert!(c.key.is_none());

    let c = config(&[
        ("ROOMGATE_AUDIT_LOG", "/var/log/rg.log"),
        ("ROOMGATE_AUDIT_KEY", KEY_B64),
    ])
    .unwrap();
    assert_eq!(c.path, PathBuf::from("/var/log/rg.log"));
    assert_eq!(c.key.unwrap().id(), key().id());
    assert!(
        !format!("{:?}", config(&[("ROOMGATE_AUDIT_KEY", KEY_B64)]).unwrap()).contains(KEY_B64)
    );

    let dir = TempDir::new("audit-unit");
    let key_file = dir.0.join("audit-key");
    std::fs::write(&key_file, format!("{KEY_B64}\n")).unwrap();
    let key_file = key_file.to_str().unwrap();
    let c = config(&[("ROOMGATE_AUDIT_KEY_FILE", key_file)]).unwrap();
    assert_eq!(c.key.unwrap().id(), key().id());

    let err = config(&[
        ("ROOMGATE_AUDIT_KEY_FILE", key_file),
        ("ROOMGATE_AUDIT_KEY", KEY_B64),
    ])
    .unwrap_err();
    assert_eq!(
        err,
        ["ROOMGATE_AUDIT_KEY and ROOMGATE_AUDIT_KEY_FILE are both set; set only one"]
    );

    let err = config(&[("ROOMGATE_AUDIT_KEY", "dG9vIHNob3J0")]).unwrap_err();
    assert!(
        err[0].starts_with("ROOMGATE_AUDIT_KEY must be 32 bytes"),
        "{err:?}"
    );
    assert!(!err[0].contains("dG9vIHNob3J0"));

    let missing = dir.0.join("missing");
    let err = config(&[("ROOMGATE_AUDIT_KEY_FILE", missing.to_str().unwrap())]).unwrap_err();
    assert!(err[0].starts_with("ROOMGATE_AUDIT_KEY_FILE: "), "{err:?}");
    assert!(err[0].contains("cannot be read"), "{err:?}");

    std::fs::write(dir.0.join("bad-key"), "secret-ish-value\n").unwrap();
    let err = config(&[(
        "ROOMGATE_AUDIT_KEY_FILE",
        dir.0.join("bad-key").to_str().unwrap(),
    )])
    .unwrap_err();
    assert!(
        err[0].contains("the key is not valid standard base64"),
        "{err:?}"
    );
    assert!(!err[0].contains("secret-ish-value"));
    assert_eq!(err.len(), 1);
}

#[test]
fn since_takes_rfc3339_times_and_durations() {
    let now = at(1_795_334_400);
    let parse = |s| parse_since(s, now);
    assert_eq!(parse("2026-11-22T08:00:00Z"), Ok(now));
    assert_eq!(parse("2026-11-22t09:00:00.250+01:00"), Ok(now));
    assert_eq!(parse("2026-11-22T03:00:00-05:00"), Ok(now));
    assert_eq!(parse("2026-11-22"), Ok(now - Duration::from_secs(8 * 3600)));
    assert_eq!(parse("2h"), Ok(now - Duration::from_secs(7200)));
    assert_eq!(parse("30m"), Ok(now - Duration::from_secs(1800)));
    assert_eq!(parse("1d"), Ok(now - Duration::from_secs(86_400)));
    assert_eq!(parse("1h30m"), Ok(now - Duration::from_secs(5400)));
    assert_eq!(parse("90s"), Ok(now - Duration::from_secs(90)));
    for bad in [
        "",
        "2",
        "h",
        "2x",
        "-2h",
        "2026-13-01T00:00:00Z",
        "2026-02-29T00:00:00Z",
        "2026-11-22T24:00:00Z",
        "2026-11-22T08:00:00",
        "yesterday",
        "99999999999999999999d",
    ] {
        let err = parse(bad).unwrap_err();
        assert!(err.starts_with("--since must be"), "{bad}: {err}");
    }
}

fn limits(edit: impl FnOnce(&mut AuditLimits)) -> AuditLimits {
    let mut limits = AuditLimits::default();
    edit(&mut limits);
    limits
}

#[tokio::test]
async fn a_flood_of_one_refusal_is_one_line_then_one_summary_and_nothing_else_is_folded() {
    let dir = TempDir::new("audit-unit");
    let start = at(1_795_334_400); // 2026-11-22T08:00:00Z
    let clock = Arc::new(ManualClock::new(start));
    let log = AuditLog::open(&dir.file(), Some(key()))
        .unwrap()
        .with_clock(clock.clone());
    let flood = || {
        AuditRecord::new(AuditEvent::Limited)
            .room(&standup())
            .ip("198.51.100.7".parse().unwrap())
            .detail("login_ip")
    };
    // Two bursts, 30 s apart, each of 2,500 concurrent refusals with sign-ins among them.
    for burst in 0..2 {
        let tasks: Vec<_> = (0..2500)
            .map(|n| {
                let log = log.clone();
                tokio::spawn(async move {
                    log.record(flood()).await.unwrap();
                    if n % 1000 == 0 {
                        let rec = AuditRecord::new(AuditEvent::CheckApproved)
                            .user(&alice())
                            .room(&standup())
                            .phone(&phone())
                            .detail(format!("{burst}-{n}"));
                        log.record(rec).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        if burst == 0 {
            clock.advance(Duration::from_secs(30));
        }
    }
    let stored = lines(&dir.file());
    assert_eq!(stored.iter().filter(|r| r["event"] == "limited").count(), 1);
    assert!(
        stored[0].get("count").is_none(),
        "the first is a plain record"
    );
    assert_eq!(
        stored
            .iter()
            .filter(|r| r["event"] == "check_approved")
            .count(),
        6
    );

    // Still within the window (opened at 08:00:00): nothing more.
    clock.advance(Duration::from_secs(29));
    log.flush_ended().await.unwrap();
    assert_eq!(lines(&dir.file()).len(), 7);

    clock.advance(Duration::from_secs(1));
    log.flush_ended().await.unwrap();
    let stored = lines(&dir.file());
    assert_eq!(stored.len(), 8);
    let summary = &stored[7];
    assert_eq!(summary["event"], "limited");
    assert_eq!(summary["count"], 4999);
    assert_eq!(summary["ip"], "198.51.100.7");
    assert_eq!(summary["detail"], "login_ip");
    assert_eq!(summary["time"], "2026-11-22T08:01:00Z");
    assert_eq!(summary["first"], "2026-11-22T08:00:00Z");
    assert_eq!(summary["last"], "2026-11-22T08:00:30Z");

    let mut opts = options(dir.file());
    opts.key = Some(key());
    let (out, err) = run_show(opts);
    assert_eq!(err, "");
    assert!(
        out.ends_with(
            "2026-11-22T08:01:00Z limited             count=4999 room=standup ip=198.51.100.7 detail=login_ip first=2026-11-22T08:00:00Z last=2026-11-22T08:00:30Z\n"
        ),
        "{out}"
    );
    assert_eq!(out.matches("phone=+14155550101").count(), 6, "{out}");
}

#[tokio::test]
async fn flush_writes_the_summaries_of_windows_still_open() {
    let dir = TempDir::new("audit-unit");
    let log = AuditLog::open(&dir.file(), None).unwrap();
    for _ in 0..10 {
        log.record(AuditRecord::new(AuditEvent::WebhookRejected).detail("bad_signature"))
            .await
            .unwrap();
    }
    assert_eq!(lines(&dir.file()).len(), 1);
    log.flush().await.unwrap();
    let stored = lines(&dir.file());
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[1]["count"], 9);
    assert_eq!(stored[1]["event"], "webhook_rejected");
}

#[tokio::test]
async fn the_writer_ends_a_window_by_itself_when_its_time_comes() {
    let dir = TempDir::new("audit-unit");
    let log = AuditLog::open_with(
        &dir.file(),
        None,
        limits(|l| l.fold_window = Duration::from_secs(1)),
    )
    .unwrap();
    for _ in 0..3 {
        log.record(AuditRecord::new(AuditEvent::Limited).detail("login_ip"))
            .await
            .unwrap();
    }
    let mut waited = Duration::ZERO;
    while lines(&dir.file()).len() < 2 && waited < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
    let stored = lines(&dir.file());
    assert_eq!(stored.len(), 2, "no summary after {waited:?}");
    assert_eq!(stored[1]["count"], 2);
}

#[tokio::test]
async fn rotation_keeps_the_newest_files_and_show_reads_them_in_order() {
    let dir = TempDir::new("audit-unit");
    let keep = 3;
    let max_bytes = 400;
    let log = AuditLog::open_with(
        &dir.file(),
        None,
        limits(|l| {
            l.max_bytes = max_bytes;
            l.keep = keep;
        }),
    )
    .unwrap();
    let total = 60;
    for n in 0..total {
        let rec = AuditRecord::new(AuditEvent::TokenMinted)
            .user(&alice())
            .detail(format!("{n:03}"));
        log.record(rec).await.unwrap();
    }
    let mut names: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["audit.log", "audit.log.1", "audit.log.2", "audit.log.3"]
    );
    #[cfg(unix)]
    for name in &names {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(dir.0.join(name)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{name}");
        assert!(meta.len() <= max_bytes, "{name}: {} bytes", meta.len());
    }

    let (out, err) = run_show(options(dir.file()));
    assert_eq!(err, "");
    let shown: Vec<u32> = out
        .lines()
        .map(|l| l.rsplit("detail=").next().unwrap().parse().unwrap())
        .collect();
    // The newest records, every one of them, oldest first; the oldest are gone.
    let kept = shown.len() as u32;
    assert!(kept >= 3 * keep as u32, "{out}");
    let expected: Vec<u32> = (total - kept..total).collect();
    assert_eq!(shown, expected);
    assert!(!out.contains("detail=000"));

    // Filters apply across the files too.
    let mut opts = options(dir.file());
    opts.user = Some("alice".into());
    assert_eq!(run_show(opts).0.lines().count(), kept as usize);
}

#[tokio::test]
async fn a_smaller_keep_removes_the_files_beyond_it_at_the_next_rotation() {
    let dir = TempDir::new("audit-unit");
    for n in 1..=5 {
        std::fs::write(
            dir.0.join(format!("audit.log.{n}")),
            format!("{{\"time\":\"2026-11-22T08:00:0{n}Z\",\"event\":\"old\"}}\n"),
        )
        .unwrap();
    }
    let log = AuditLog::open_with(
        &dir.file(),
        None,
        limits(|l| {
            l.max_bytes = 100;
            l.keep = 2;
        }),
    )
    .unwrap();
    for n in 0..2 {
        log.record(AuditRecord::new(AuditEvent::AclReloaded).detail(format!("{n}")))
            .await
            .unwrap();
    }
    let mut names: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["audit.log", "audit.log.1", "audit.log.2"]);
}

/// A rotation that can't make its fresh file (no space, no inode, no descriptor;
/// here the name is taken by a directory) renames nothing: the older files stay as
/// they were, the writer goes on in the current file, and every record is there.
#[tokio::test]
async fn a_rotation_that_cant_make_its_file_moves_nothing() {
    let dir = TempDir::new("audit-unit");
    for n in 1..=2 {
        std::fs::write(
            dir.0.join(format!("audit.log.{n}")),
            format!("{{\"time\":\"2026-11-22T08:00:0{n}Z\",\"event\":\"old{n}\"}}\n"),
        )
        .unwrap();
    }
    std::fs::create_dir(dir.0.join("audit.log.new")).unwrap();
    let log = AuditLog::open_with(
        &dir.file(),
        None,
        limits(|l| {
            l.max_bytes = 200;
            l.keep = 5;
        }),
    )
    .unwrap();
    let total = 20;
    for n in 0..total {
        let rec = AuditRecord::new(AuditEvent::TokenMinted)
            .user(&alice())
            .detail(format!("{n:03}"));
        log.record(rec).await.unwrap();
    }
    for n in 1..=2 {
        let old = std::fs::read_to_string(dir.0.join(format!("audit.log.{n}"))).unwrap();
        assert!(old.contains(&format!("old{n}")), "audit.log.{n}: {old}");
    }
    assert!(!dir.0.join("audit.log.3").exists());
    assert_eq!(lines(&dir.file()).len(), total);
    let (out, err) = run_show(options(dir.file()));
    assert_eq!(err, "");
    assert_eq!(out.lines().count(), total + 2, "{out}");
}

#[test]
fn config_reads_folding_and_rotation() {
    let c = config(&[]).unwrap();
    assert_eq!(c.limits, AuditLimits::default());
    assert_eq!(c.limits.fold_window, Duration::from_secs(60));
    assert_eq!(c.limits.max_bytes, 100 * 1024 * 1024);
    assert_eq!(c.limits.keep, 10);
    let c = config(&[
        ("ROOMGATE_AUDIT_FOLD_SECS", "5"),
        ("ROOMGATE_AUDIT_FOLD_KEYS", "10"),
        ("ROOMGATE_AUDIT_MAX_BYTES", "4096"),
        ("ROOMGATE_AUDIT_KEEP", "2"),
    ])
    .unwrap();
    assert_eq!(
        c.limits,
        AuditLimits {
            fold_window: Duration::from_secs(5),
            fold_keys: 10,
            max_bytes: 4096,
            keep: 2
        }
    );
    let err = config(&[
        ("ROOMGATE_AUDIT_KEEP", "0"),
        ("ROOMGATE_AUDIT_FOLD_SECS", "1h"),
        ("ROOMGATE_AUDIT_KEY", "dG9vIHNob3J0"),
    ])
    .unwrap_err();
    assert_eq!(err.len(), 3, "{err:?}");
    assert!(
        err.iter()
            .any(|e| e.starts_with("ROOMGATE_AUDIT_KEEP must be a whole number from 1"))
    );
    assert!(
        err.iter()
            .any(|e| e.starts_with("ROOMGATE_AUDIT_FOLD_SECS must be"))
    );
}
