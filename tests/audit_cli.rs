//! `roomgate audit show` through the real binary, on logs written by the library's
//! `AuditLog`, in an empty environment and working directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use roomgate::audit::{AuditEvent, AuditKey, AuditLimits, AuditLog, AuditRecord};
use roomgate::clock::ManualClock;
use roomgate::domain::{PhoneNumber, RoomName, Username};

const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const OTHER_KEY: &str = "HxwdGhsYGRYXFBUSExAREA4PDA0KCwgJBgcEBQIDAAE=";
const ALICE_PHONE: &str = "+14155550101";
const BOB_PHONE: &str = "+447400123456";
/// 2026-11-22T08:00:00Z
const START: u64 = 1_795_334_400;

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "roomgate-audit-cli-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `roomgate audit show ARGS` with only `env` in its environment, in `dir`.
fn show(dir: &TempDir, args: &[&str], env: &[(&str, &str)]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_roomgate"))
        .args(["audit", "show"])
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .current_dir(&dir.0)
        .output()
        .expect("the roomgate binary runs");
    Run {
        code: status.code().expect("exited, not killed"),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

fn user(name: &str) -> Username {
    Username::parse(name).unwrap()
}

fn room(name: &str) -> RoomName {
    RoomName::parse(name).unwrap()
}

fn phone(number: &str) -> PhoneNumber {
    PhoneNumber::parse(number).unwrap()
}

/// Four records an hour apart from `start`: alice and bob in standup, alice in
/// all-hands, an ACL reload.
async fn write_log(path: &Path, start: SystemTime) {
    let clock = Arc::new(ManualClock::new(start));
    let log = AuditLog::open(path, Some(AuditKey::from_base64(KEY).unwrap()))
        .unwrap()
        .with_clock(clock.clone());
    let ip = "203.0.113.7".parse().unwrap();
    let records = [
        AuditRecord::new(AuditEvent::CheckApproved)
            .user(&user("alice"))
            .room(&room("standup"))
            .ip(ip)
            .phone(&phone(ALICE_PHONE)),
        AuditRecord::new(AuditEvent::CodeSent)
            .user(&user("bob"))
            .room(&room("standup"))
            .phone(&phone(BOB_PHONE)),
        AuditRecord::new(AuditEvent::TokenMinted)
            .user(&user("alice"))
            .room(&room("all-hands"))
            .ip(ip),
        AuditRecord::new(AuditEvent::AclReloaded).detail("2 users"),
    ];
    for rec in records {
        log.record(rec).await.unwrap();
        clock.advance(Duration::from_secs(3600));
    }
}

async fn fixture() -> TempDir {
    let dir = TempDir::new();
    write_log(
        &dir.path("audit.log"),
        UNIX_EPOCH + Duration::from_secs(START),
    )
    .await;
    dir
}

#[tokio::test]
async fn without_the_key_phones_show_as_encrypted() {
    let dir = fixture().await;
    let run = show(&dir, &[], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "2026-11-22T08:00:00Z check_approved      user=alice room=standup ip=203.0.113.7 phone=<encrypted>\n\
         2026-11-22T09:00:00Z code_sent           user=bob room=standup phone=<encrypted>\n\
         2026-11-22T10:00:00Z token_minted        user=alice room=all-hands ip=203.0.113.7\n\
         2026-11-22T11:00:00Z acl_reloaded        detail=\"2 users\"\n"
    );
    assert_eq!(run.stderr, "");
    let file = std::fs::read_to_string(dir.path("audit.log")).unwrap();
    for plain in [ALICE_PHONE, "14155550101", BOB_PHONE, "447400123456"] {
        assert!(!file.contains(plain), "{plain} in the log");
    }
}

#[tokio::test]
async fn with_the_key_from_any_source_phones_are_decrypted() {
    let dir = fixture().await;
    std::fs::write(dir.path("key"), format!("{KEY}\n")).unwrap();
    let key_file = dir.path("key").display().to_string();
    for (args, env) in [
        (vec![], vec![("ROOMGATE_AUDIT_KEY", KEY)]),
        (vec![], vec![("ROOMGATE_AUDIT_KEY_FILE", key_file.as_str())]),
        (vec!["--key-file", "key"], vec![]),
        // The flag wins over a key the environment names.
        (
            vec!["--key-file", "key"],
            vec![("ROOMGATE_AUDIT_KEY", OTHER_KEY)],
        ),
    ] {
        let run = show(&dir, &args, &env);
        assert_eq!(run.code, 0, "{args:?} {env:?}: {}", run.stderr);
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(lines.len(), 4, "{}", run.stdout);
        assert!(lines[0].ends_with(" phone=+14155550101"), "{}", lines[0]);
        assert!(lines[1].ends_with(" phone=+447400123456"), "{}", lines[1]);
        assert!(!run.stdout.contains(KEY) && !run.stderr.contains(KEY));
    }
}

#[tokio::test]
async fn a_wrong_key_is_named_on_each_record_without_aborting() {
    let dir = fixture().await;
    let run = show(&dir, &[], &[("ROOMGATE_AUDIT_KEY", OTHER_KEY)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 4);
    for line in &lines[..2] {
        assert!(
            line.contains(" phone=<wrong key: sealed with key "),
            "{line}"
        );
    }
    assert!(
        run.stderr
            .contains("2 phone numbers were sealed with another key"),
        "{}",
        run.stderr
    );
    assert!(!run.stdout.contains(ALICE_PHONE));
}

#[tokio::test]
async fn filters_by_user_room_and_time() {
    let dir = fixture().await;
    let key = [("ROOMGATE_AUDIT_KEY", KEY)];

    let run = show(&dir, &["--user", "alice"], &key);
    assert_eq!(run.stdout.lines().count(), 2, "{}", run.stdout);
    assert!(run.stdout.lines().all(|l| l.contains(" user=alice ")));

    let run = show(&dir, &["--room", "standup"], &key);
    let events: Vec<&str> = run
        .stdout
        .lines()
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(events, ["check_approved", "code_sent"]);

    let run = show(&dir, &["--user", "alice", "--room", "all-hands"], &key);
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);

    let run = show(&dir, &["--since", "2026-11-22T09:30:00Z"], &key);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let times: Vec<&str> = run
        .stdout
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(times, ["2026-11-22T10:00:00Z", "2026-11-22T11:00:00Z"]);

    let run = show(&dir, &["--since", "2026-11-22T10:00:00+01:00"], &key);
    assert_eq!(run.stdout.lines().count(), 3, "{}", run.stdout);
}

#[tokio::test]
async fn since_takes_a_time_ago() {
    let dir = TempDir::new();
    // Hours before now: 3, 2, 1 and the present.
    let start = SystemTime::now() - Duration::from_secs(3 * 3600);
    write_log(&dir.path("audit.log"), start).await;
    let count = |since: &str| {
        let run = show(&dir, &["--since", since], &[]);
        assert_eq!(run.code, 0, "{since}: {}", run.stderr);
        run.stdout.lines().count()
    };
    assert_eq!(count("90m"), 2);
    assert_eq!(count("150m"), 3);
    assert_eq!(count("1d"), 4);

    let run = show(&dir, &["--since", "last tuesday"], &[]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr.starts_with("--since must be an RFC 3339 time"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn a_cut_off_last_line_is_skipped_with_a_warning() {
    let dir = fixture().await;
    let path = dir.path("audit.log");
    let mut text = std::fs::read_to_string(&path).unwrap();
    // Cut the fourth record in half, as a crash mid-write would.
    let third_end = text.match_indices('\n').nth(2).unwrap().0 + 1;
    text.truncate(third_end + 25);
    std::fs::write(&path, text).unwrap();

    let run = show(&dir, &[], &[("ROOMGATE_AUDIT_KEY", KEY)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 3, "{}", run.stdout);
    assert_eq!(
        run.stderr,
        "warning: audit.log:4: the last line is cut off (roomgate probably stopped while writing it); skipped\n"
    );
}

#[tokio::test]
async fn the_file_comes_from_the_flag_or_roomgate_audit_log() {
    let dir = TempDir::new();
    write_log(
        &dir.path("elsewhere.log"),
        UNIX_EPOCH + Duration::from_secs(START),
    )
    .await;

    let run = show(&dir, &["--file", "elsewhere.log"], &[]);
    assert_eq!(run.stdout.lines().count(), 4, "{}", run.stderr);
    let run = show(&dir, &[], &[("ROOMGATE_AUDIT_LOG", "elsewhere.log")]);
    assert_eq!(run.stdout.lines().count(), 4, "{}", run.stderr);

    let run = show(&dir, &[], &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .starts_with("roomgate: cannot open the audit log audit.log: "),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}

/// A log the service writes to a pipe (a log shipper) can't be read back: refused at
/// once, where opening it would wait for a writer for ever (`timeout` ends such a
/// wait, exit 124).
#[test]
fn a_log_that_is_a_pipe_is_refused_without_waiting() {
    let dir = TempDir::new();
    let made = Command::new("mkfifo")
        .arg(dir.path("audit.log"))
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let run = Command::new("timeout")
        .arg("20")
        .arg(env!("CARGO_BIN_EXE_roomgate"))
        .args(["audit", "show"])
        .env_clear()
        .current_dir(&dir.0)
        .output()
        .expect("timeout runs");
    let stderr = String::from_utf8(run.stderr).unwrap();
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("roomgate: cannot open the audit log audit.log: ")
            && stderr.contains("not a regular file"),
        "{stderr}"
    );
}

#[tokio::test]
async fn key_problems_are_one_line_each_without_the_value() {
    let dir = fixture().await;
    std::fs::write(dir.path("key"), KEY).unwrap();
    let run = show(
        &dir,
        &[],
        &[
            ("ROOMGATE_AUDIT_KEY", KEY),
            ("ROOMGATE_AUDIT_KEY_FILE", "key"),
        ],
    );
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "ROOMGATE_AUDIT_KEY and ROOMGATE_AUDIT_KEY_FILE are both set; set only one\n"
    );

    let short = "c2hvcnQtc2VjcmV0";
    let run = show(&dir, &[], &[("ROOMGATE_AUDIT_KEY", short)]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .starts_with("ROOMGATE_AUDIT_KEY must be 32 bytes"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(short));

    let run = show(&dir, &["--key-file", "missing"], &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.starts_with("--key-file: missing cannot be read"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn rotated_files_are_shown_oldest_first_then_the_current_one() {
    let dir = TempDir::new();
    let clock = Arc::new(ManualClock::new(UNIX_EPOCH + Duration::from_secs(START)));
    let keep = 3;
    let limits = AuditLimits {
        max_bytes: 1000,
        keep,
        ..AuditLimits::default()
    };
    let log = AuditLog::open_with(
        &dir.path("audit.log"),
        Some(AuditKey::from_base64(KEY).unwrap()),
        limits,
    )
    .unwrap()
    .with_clock(clock.clone());
    let total = 60;
    for n in 0..total {
        let who = if n % 2 == 0 { "alice" } else { "bob" };
        let rec = AuditRecord::new(AuditEvent::CodeSent)
            .user(&user(who))
            .room(&room("standup"))
            .phone(&phone(ALICE_PHONE))
            .detail(format!("{n:03}"));
        log.record(rec).await.unwrap();
        clock.advance(Duration::from_secs(60));
    }
    let mut names: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["audit.log", "audit.log.1", "audit.log.2", "audit.log.3"],
        "at most KEEP + 1 files"
    );

    let run = show(&dir, &[], &[("ROOMGATE_AUDIT_KEY", KEY)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stderr, "");
    let numbers: Vec<u32> = run
        .stdout
        .lines()
        .map(|l| {
            assert!(l.ends_with(&format!("phone={ALICE_PHONE}")), "{l}");
            let detail = l.split(" detail=").nth(1).unwrap();
            detail[..3].parse().unwrap()
        })
        .collect();
    // The newest records, all of them, in the order they were written; the oldest
    // went with the files rotated out.
    let first = numbers[0];
    assert!(first > 0, "the oldest file was removed: {numbers:?}");
    assert_eq!(numbers, (first..total).collect::<Vec<_>>());
    // Each file held several records, so several files were read.
    assert!(numbers.len() > 3 * keep, "{numbers:?}");

    // Filters apply across the files; the server's rotation settings don't matter here.
    let run = show(&dir, &["--user", "bob"], &[("ROOMGATE_AUDIT_KEEP", "zero")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.lines().all(|l| l.contains(" user=bob ")));
    assert_eq!(
        run.stdout.lines().count(),
        numbers.iter().filter(|n| *n % 2 == 1).count()
    );
    let since = "2026-11-22T08:55:00Z"; // record 55 onwards
    let run = show(&dir, &["--since", since], &[]);
    assert_eq!(run.stdout.lines().count(), 5, "{}", run.stdout);
}
