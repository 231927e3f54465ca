//! `roomgate acl …` through the real binary, as a host runs it: exit codes, what
//! it prints, and the file's exact bytes afterwards.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Hand-written: comments, odd spacing, a multi-line list, a literal string.
const ACL: &str = "# Our rooms. Ask Alice before adding anyone.\n\
                   \n\
                   [users.alice]   # Alice runs standup\n\
                   phone = \"+14155550101\"\n\
                   rooms = [\"standup\", \"all-hands\"]\n\
                   role = \"host\"\n\
                   \n\
                   # Bob is in London.\n\
                   [users.bob]\n\
                   phone = '+447400123456'\n\
                   rooms = [\n  \"*\",   # all of them\n]\n\
                   \n\
                   [users.carol]\n\
                   phone  =  \"+61412345678\"\n\
                   rooms  =  [\"design-review\"]\n";

const DAVE: &str = "+16135550123";

/// An empty working directory (so no developer `.env` applies) with an ACL in it.
struct Sandbox {
    dir: PathBuf,
    acl: PathBuf,
}

impl Sandbox {
    fn new(name: &str) -> Sandbox {
        let dir =
            std::env::temp_dir().join(format!("roomgate-acl-cli-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let acl = dir.join("team.toml");
        fs::write(&acl, ACL).unwrap();
        Sandbox { dir, acl }
    }

    /// `roomgate acl --acl <file> ARGS…` with an empty environment.
    fn acl(&self, args: &[&str]) -> Output {
        self.run(&self.with_file(args), &[])
    }

    fn with_file<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = vec!["acl", "--acl", self.acl.to_str().unwrap()];
        all.extend_from_slice(args);
        all
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_roomgate"))
            .args(args)
            .env_clear()
            .envs(env.iter().copied())
            .current_dir(&self.dir)
            .output()
            .expect("the roomgate binary runs")
    }

    fn text(&self) -> String {
        fs::read_to_string(&self.acl).unwrap()
    }

    /// Nothing but the files the test made: no temporary file left behind.
    fn assert_only(&self, names: &[&str]) {
        let mut found: Vec<String> = fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        found.sort();
        assert_eq!(found, names);
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn assert_ok(out: &Output) {
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(out));
}

#[track_caller]
fn assert_refused(out: &Output) {
    assert_eq!(out.status.code(), Some(1), "stdout: {}", stdout(out));
    assert!(out.stdout.is_empty(), "{}", stdout(out));
}

/// `ACL` with its one occurrence of `from` replaced by `to`.
fn acl_with(from: &str, to: &str) -> String {
    assert_eq!(ACL.matches(from).count(), 1, "{from:?}");
    ACL.replacen(from, to, 1)
}

#[test]
fn list_masks_phones_unless_asked() {
    let sandbox = Sandbox::new("list");
    let out = sandbox.acl(&["list"]);
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        "USER   ROLE         PHONE          CHANNELS  ROOMS\n\
         alice  host         +1********01   sms       standup, all-hands\n\
         bob    participant  +44********56  sms       *\n\
         carol  participant  +61*******78   sms       design-review\n\
         3 users (1 host, 2 participants), 3 rooms, any room for 1 user; phone numbers masked (--show-phones shows them)\n"
    );
    for full in ["4155550101", "7400123456", "412345678"] {
        assert!(!stdout(&out).contains(full));
    }

    let out = sandbox.acl(&["list", "--show-phones"]);
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        "USER   ROLE         PHONE          CHANNELS  ROOMS\n\
         alice  host         +14155550101   sms       standup, all-hands\n\
         bob    participant  +447400123456  sms       *\n\
         carol  participant  +61412345678   sms       design-review\n\
         3 users (1 host, 2 participants), 3 rooms, any room for 1 user\n"
    );
    assert_eq!(sandbox.text(), ACL);
}

#[test]
fn list_of_an_invalid_file_prints_its_errors() {
    let sandbox = Sandbox::new("list-bad");
    fs::write(
        &sandbox.acl,
        "[users.carol]\nphone = \"555\"\nrooms = [\"x\"]\n",
    )
    .unwrap();
    let out = sandbox.acl(&["list"]);
    assert_refused(&out);
    assert_eq!(
        stderr(&out),
        format!(
            "{}:2:9: users.carol.phone: \"555\" is not an E.164 number\n",
            sandbox.acl.display()
        )
    );
}

#[test]
fn add_appends_the_user_and_changes_nothing_else() {
    let sandbox = Sandbox::new("add");
    let out = sandbox.acl(&[
        "add", "dave", "--phone", DAVE, "--room", "standup", "--room", "ops",
    ]);
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        format!(
            "added dave (participant, phone +1********23, rooms standup, ops) to {}\n",
            sandbox.acl.display()
        )
    );
    assert_eq!(
        sandbox.text(),
        format!("{ACL}\n[users.dave]\nphone  =  \"{DAVE}\"\nrooms  =  [\"standup\", \"ops\"]\n")
    );
    sandbox.assert_only(&["team.toml"]);

    let out = sandbox.acl(&[
        "add",
        "erin",
        "--phone",
        "+447400123457",
        "--room",
        "*",
        "--host",
    ]);
    assert_ok(&out);
    assert!(sandbox.text().ends_with(
        "\n[users.erin]\nphone  =  \"+447400123457\"\nrooms  =  [\"*\"]\nrole  =  \"host\"\n"
    ));
    let list = stdout(&sandbox.acl(&["list"]));
    assert!(
        list.contains("erin   host         +44********57  sms       *\n"),
        "{list}"
    );
}

#[test]
fn add_refusals_leave_the_file_byte_identical() {
    let sandbox = Sandbox::new("add-refused");
    let file = sandbox.acl.display().to_string();
    let cases: [(&[&str], String); 3] = [
        (
            &["add", "bob", "--phone", DAVE, "--room", "x"],
            format!(
                "{file}: not changed: bob is already on the list (change their entry with set-phone, grant or revoke)\n"
            ),
        ),
        (
            &["add", "dave", "--phone", "555-0101", "--room", "x"],
            format!("{file}: not changed: \"555-0101\" is not an E.164 number\n"),
        ),
        (
            &[
                "add",
                "dave",
                "--phone",
                "+4474001234567",
                "--room",
                "Ops Room",
            ],
            format!(
                "{file}: not changed: \"+4474001234567\" is not a valid phone number for its country\n\
                 {file}: not changed: \"Ops Room\" is not a valid room name (1-64 characters: a-z, 0-9, '-', starting with a letter or digit)\n"
            ),
        ),
    ];
    for (args, expected) in cases {
        let out = sandbox.acl(args);
        assert_refused(&out);
        assert_eq!(stderr(&out), expected, "{args:?}");
        assert_eq!(sandbox.text(), ACL, "{args:?}");
    }
    sandbox.assert_only(&["team.toml"]);

    // A usage error is clap's: exit 2.
    let out = sandbox.acl(&["add", "dave", "--phone", DAVE]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(sandbox.text(), ACL);
}

#[test]
fn remove_takes_out_the_user_and_the_comment_on_top() {
    let sandbox = Sandbox::new("remove");
    let out = sandbox.acl(&["remove", "bob"]);
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        format!("removed bob from {}\n", sandbox.acl.display())
    );
    assert_eq!(
        sandbox.text(),
        acl_with(
            "\n# Bob is in London.\n[users.bob]\nphone = '+447400123456'\nrooms = [\n  \"*\",   # all of them\n]\n",
            ""
        )
    );
    sandbox.assert_only(&["team.toml"]);

    let out = sandbox.acl(&["remove", "bob"]);
    assert_refused(&out);
    assert_eq!(
        stderr(&out),
        format!(
            "{}: not changed: no user named bob\n",
            sandbox.acl.display()
        )
    );
}

#[test]
fn channels_are_added_set_and_listed_keeping_comments() {
    let sandbox = Sandbox::new("channels");
    // Bob may now be called: one new line after his list (and its comment), nothing else.
    let out = sandbox.acl(&["set-channels", "bob", "sms,call"]);
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        format!(
            "bob's channels are now sms, call in {}\n",
            sandbox.acl.display()
        )
    );
    assert_eq!(
        sandbox.text(),
        acl_with(
            "  \"*\",   # all of them\n]\n",
            "  \"*\",   # all of them\n]\nchannels = [\"sms\", \"call\"]\n"
        )
    );
    let list = stdout(&sandbox.acl(&["list"]));
    assert!(
        list.contains("bob    participant  +44********56  sms,call  *\n"),
        "{list}"
    );
    // Back to texts only: the value changes, the key stays; again: nothing to do.
    assert_ok(&sandbox.acl(&["set-channels", "bob", "sms"]));
    assert_eq!(
        sandbox.text(),
        acl_with(
            "  \"*\",   # all of them\n]\n",
            "  \"*\",   # all of them\n]\nchannels = [\"sms\"]\n"
        )
    );
    let out = sandbox.acl(&["set-channels", "bob", "sms"]);
    assert_ok(&out);
    assert!(stdout(&out).contains("already sms"), "{}", stdout(&out));

    // Refused, the file untouched: an unknown channel, a repeat, no "sms", nobody.
    let before = sandbox.text();
    for args in [
        &["set-channels", "bob", "sms,fax"][..],
        &["set-channels", "bob", "sms,sms"][..],
        &["set-channels", "bob", "call"][..],
        &["set-channels", "mallory", "sms,call"][..],
        &[
            "add",
            "dave",
            "--phone",
            DAVE,
            "--room",
            "x",
            "--channels",
            "call",
        ][..],
    ] {
        let out = sandbox.acl(args);
        assert_refused(&out);
        assert_eq!(sandbox.text(), before, "{args:?}");
    }

    // Added with calls allowed: written in the style of the last user.
    let out = sandbox.acl(&[
        "add",
        "dave",
        "--phone",
        DAVE,
        "--room",
        "ops",
        "--channels",
        "sms,call",
    ]);
    assert_ok(&out);
    assert_eq!(
        sandbox.text(),
        format!(
            "{before}\n[users.dave]\nphone  =  \"{DAVE}\"\nrooms  =  [\"ops\"]\nchannels  =  [\"sms\", \"call\"]\n"
        )
    );
    sandbox.assert_only(&["team.toml"]);
}

#[test]
fn set_phone_replaces_only_the_number() {
    let sandbox = Sandbox::new("set-phone");
    let out = sandbox.acl(&["set-phone", "bob", "+447400123457"]);
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        format!(
            "bob's phone is now +44********57 in {}\n",
            sandbox.acl.display()
        )
    );
    assert_eq!(
        sandbox.text(),
        acl_with("'+447400123456'", "'+447400123457'")
    );

    let before = sandbox.text();
    for args in [
        &["set-phone", "bob", "07400 123456"][..],
        &["set-phone", "mallory", DAVE][..],
    ] {
        let out = sandbox.acl(args);
        assert_refused(&out);
        assert_eq!(sandbox.text(), before, "{args:?}");
    }
    sandbox.assert_only(&["team.toml"]);
}

#[test]
fn grant_adds_a_room_and_granting_it_again_changes_nothing() {
    let sandbox = Sandbox::new("grant");
    let out = sandbox.acl(&["grant", "carol", "standup"]);
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        format!(
            "carol may now join room standup ({})\n",
            sandbox.acl.display()
        )
    );
    let granted = acl_with("[\"design-review\"]", "[\"design-review\", \"standup\"]");
    assert_eq!(sandbox.text(), granted);

    let out = sandbox.acl(&["grant", "bob", "ops"]);
    assert_ok(&out);
    let granted = granted.replacen(
        "  \"*\",   # all of them\n",
        "  \"*\",   # all of them\n  \"ops\",\n",
        1,
    );
    assert_eq!(sandbox.text(), granted);

    let out = sandbox.acl(&["grant", "carol", "standup"]);
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        format!(
            "carol already has room standup; {} not changed\n",
            sandbox.acl.display()
        )
    );
    assert_eq!(sandbox.text(), granted);

    let out = sandbox.acl(&["grant", "mallory", "standup"]);
    assert_refused(&out);
    assert_eq!(sandbox.text(), granted);
    sandbox.assert_only(&["team.toml"]);
}

#[test]
fn revoke_removes_a_room_but_never_the_last() {
    let sandbox = Sandbox::new("revoke");
    let file = sandbox.acl.display().to_string();
    let out = sandbox.acl(&["revoke", "alice", "standup"]);
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        format!("alice may no longer join room standup ({file})\n")
    );
    let revoked = acl_with("[\"standup\", \"all-hands\"]", "[\"all-hands\"]");
    assert_eq!(sandbox.text(), revoked);

    let out = sandbox.acl(&["revoke", "alice", "all-hands"]);
    assert_refused(&out);
    assert_eq!(
        stderr(&out),
        format!(
            "{file}: not changed: \"all-hands\" is alice's only room, and every user needs one (remove alice instead)\n"
        )
    );
    let out = sandbox.acl(&["revoke", "carol", "standup"]);
    assert_refused(&out);
    assert_eq!(
        stderr(&out),
        format!(
            "{file}: not changed: carol does not have room \"standup\" (their rooms: design-review)\n"
        )
    );
    assert_eq!(sandbox.text(), revoked);
    sandbox.assert_only(&["team.toml"]);
}

#[test]
fn edits_obey_the_same_country_policy_as_serve() {
    let sandbox = Sandbox::new("policy");
    let file = sandbox.acl.display().to_string();
    let args = sandbox.with_file(&["add", "dave", "--phone", "+447400123457", "--room", "x"]);
    // Bob's number is British too; with GB allowed, Dave can be added.
    let out = sandbox.run(&args, &[("ROOMGATE_ALLOWED_COUNTRIES", "US, CA, AU")]);
    assert_refused(&out);
    let errors = stderr(&out);
    assert!(
        errors.contains(&format!(
            "{file}:10:9: users.bob.phone: +44********56 is in GB, which is not in ROOMGATE_ALLOWED_COUNTRIES (AU, CA, US)\n"
        )),
        "{errors}"
    );
    // Bob's number was refused before the change: the file's error, to fix first,
    // then what the change itself would bring.
    assert!(
        errors.contains(&format!(
            "{file}: not changed: the file already has an error (above, at line 10 as the file is now); fix it first"
        )),
        "{errors}"
    );
    assert!(
        errors.ends_with(&format!(
            "{file}: the change would also bring: users.dave.phone: +44********57 is in GB, which is not in ROOMGATE_ALLOWED_COUNTRIES (AU, CA, US)\n"
        )),
        "{errors}"
    );
    assert_eq!(sandbox.text(), ACL);

    // Read from `.env`, as `serve` does.
    fs::write(sandbox.dir.join(".env"), "ROOMGATE_ALLOWED_COUNTRIES=US\n").unwrap();
    let out = sandbox.acl(&["set-phone", "alice", "+14155550102"]);
    assert_refused(&out);
    assert!(stderr(&out).contains("users.bob.phone"), "{}", stderr(&out));
    assert_eq!(sandbox.text(), ACL);

    fs::write(
        sandbox.dir.join(".env"),
        "ROOMGATE_ALLOWED_COUNTRIES=\"us gb au\"\n",
    )
    .unwrap();
    assert_ok(&sandbox.run(&args, &[]));
    sandbox.assert_only(&[".env", "team.toml"]);
}

/// A file that already has an error (bob's number, line 10): an edit of another
/// entry is refused with the error where it is on disk, not where it would be once
/// alice's lines are gone, and says to fix it first; the command that fixes it works.
#[test]
fn an_edit_of_a_file_with_an_error_names_its_line_on_disk() {
    let sandbox = Sandbox::new("already-broken");
    let file = sandbox.acl.display().to_string();
    let broken = acl_with("'+447400123456'", "'555'");
    fs::write(&sandbox.acl, &broken).unwrap();
    let out = sandbox.acl(&["remove", "alice"]);
    assert_refused(&out);
    assert_eq!(
        stderr(&out),
        format!(
            "{file}:10:9: users.bob.phone: \"555\" is not an E.164 number\n\
             {file}: not changed: the file already has an error (above, at line 10 as the file is now); \
             fix it first, by hand or with the `roomgate acl` command that changes it (set-phone, say), \
             then run this again\n"
        )
    );
    assert_eq!(sandbox.text(), broken);

    let out = sandbox.acl(&["set-phone", "bob", "+447400123456"]);
    assert_ok(&out);
    assert_eq!(sandbox.text(), ACL);
    assert_ok(&sandbox.acl(&["remove", "alice"]));
    sandbox.assert_only(&["team.toml"]);
}

/// A file with two errors: the command that fixes one is made, but exits with
/// failure (the list is still not one `serve` takes) and says what is left on
/// stderr; the one that fixes the last exits 0.
#[test]
fn a_fix_that_leaves_an_error_is_made_but_exits_with_failure() {
    let sandbox = Sandbox::new("two-errors");
    let file = sandbox.acl.display().to_string();
    let broken = acl_with("'+447400123456'", "'555'").replacen("+61412345678", "678", 1);
    fs::write(&sandbox.acl, &broken).unwrap();

    let out = sandbox.acl(&["set-phone", "bob", "+447400123456"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "{}", stdout(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "bob's phone is now +44********56 in {file}\n\
             {file}:16:11: users.carol.phone: \"678\" is not an E.164 number\n\
             {file} still has an error (above, at line 16 as written), so roomgate keeps the \
             list it has until that is fixed too; warnings (two users with one number, say) \
             come once no error is left\n"
        )
    );
    assert_eq!(sandbox.text(), ACL.replacen("+61412345678", "678", 1));

    assert_ok(&sandbox.acl(&["set-phone", "carol", "+61412345678"]));
    assert_eq!(sandbox.text(), ACL);
}

/// `cmd`'s output, or a failed test if it takes more than 10 s (killed, so that a
/// command waiting for ever fails the test instead of hanging the suite).
fn output_within(cmd: &mut Command) -> Output {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within 10 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Only a regular file is an ACL: a FIFO (which would block the read until a writer
/// came), a device or a directory is refused at once, saying what it is, and so is a
/// file too large to be one, without reading it.
#[cfg(unix)]
#[test]
fn a_fifo_a_device_a_directory_or_a_huge_file_is_refused_at_once() {
    let sandbox = Sandbox::new("not-a-file");
    let fifo = sandbox.dir.join("fifo.toml");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let huge = sandbox.dir.join("huge.toml");
    // Sparse: nothing is written, and 4 GiB would take a while to read.
    fs::File::create(&huge).unwrap().set_len(1 << 32).unwrap();
    let fifo_said = "it is a FIFO (named pipe), not a regular file";
    let cases = [
        (fifo.to_str().unwrap(), fifo_said),
        ("/dev/null", "it is a character device, not a regular file"),
        (
            sandbox.dir.to_str().unwrap(),
            "it is a directory, not a regular file",
        ),
        (
            huge.to_str().unwrap(),
            "it is 4294967296 bytes (4096.0 MiB), over the 64 MiB an ACL may be \
             (a 100,000-user list is about 6 MB): is it the right file?",
        ),
    ];
    for (path, said) in cases {
        for args in [
            &["acl", "check", path][..],
            &["acl", "--acl", path, "list"][..],
            &["acl", "--acl", path, "remove", "bob"][..],
            &[
                "acl", "--acl", path, "add", "dave", "--phone", DAVE, "--room", "x",
            ][..],
        ] {
            let out = output_within(
                Command::new(env!("CARGO_BIN_EXE_roomgate"))
                    .args(args)
                    .env_clear()
                    .current_dir(&sandbox.dir),
            );
            assert_refused(&out);
            assert_eq!(
                stderr(&out),
                format!("{path}: cannot read: {said}\n"),
                "{args:?}"
            );
        }
    }
    // Through a link too: what it leads to counts.
    let link = sandbox.dir.join("link.toml");
    std::os::unix::fs::symlink(&fifo, &link).unwrap();
    let out = output_within(
        Command::new(env!("CARGO_BIN_EXE_roomgate"))
            .args(["acl", "check", link.to_str().unwrap()])
            .env_clear()
            .current_dir(&sandbox.dir),
    );
    assert_refused(&out);
    assert!(
        stderr(&out).ends_with(&format!("{fifo_said}\n")),
        "{}",
        stderr(&out)
    );
    sandbox.assert_only(&["fifo.toml", "huge.toml", "link.toml", "team.toml"]);
}

/// Someone who may edit the file but not give a new one its owner or group (the
/// file's owner, outside its group; a member of a group-writable file's group) is
/// told which of the two it was, and who could. Needs root, to act as someone else.
#[cfg(unix)]
#[test]
fn an_owner_or_group_that_cannot_be_kept_is_named() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt, chown};
    use std::os::unix::process::CommandExt;
    let sandbox = Sandbox::new("ownership");
    if fs::metadata(&sandbox.acl).unwrap().uid() != 0 {
        eprintln!("skipped: acting as another user needs root");
        return;
    }
    const NOBODY: u32 = 65534;
    // A directory that user may write (for the temporary file), and the binary where
    // they can reach it: a link if the file systems allow, else a copy.
    chown(&sandbox.dir, Some(NOBODY), Some(NOBODY)).unwrap();
    let bin = sandbox.dir.join("roomgate");
    if fs::hard_link(env!("CARGO_BIN_EXE_roomgate"), &bin).is_err() {
        fs::copy(env!("CARGO_BIN_EXE_roomgate"), &bin).unwrap();
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let file = sandbox.acl.display().to_string();
    let grant = || {
        output_within(
            Command::new(&bin)
                .args(["acl", "--acl", &file, "grant", "carol", "ops"])
                .env_clear()
                .current_dir(&sandbox.dir)
                .uid(NOBODY)
                .gid(NOBODY),
        )
    };
    let cases = [
        // Theirs, in root's group, which they are not in.
        (
            (NOBODY, 0, 0o644),
            "cannot give the new file the old one's group, ",
            "(gid 0): Operation not permitted (os error 1); run this as root or as a member of ",
        ),
        // Root's, writable by all: the owner only root can give.
        (
            (0, NOBODY, 0o666),
            "cannot give the new file the old one's owner, root: ",
            "Operation not permitted (os error 1); run this as root\n",
        ),
    ];
    for ((uid, gid, mode), what, advice) in cases {
        chown(&sandbox.acl, Some(uid), Some(gid)).unwrap();
        fs::set_permissions(&sandbox.acl, fs::Permissions::from_mode(mode)).unwrap();
        let out = grant();
        assert_refused(&out);
        let err = stderr(&out);
        assert!(
            err.starts_with(&format!("{file}: not changed: {what}")),
            "{err}"
        );
        assert!(err.contains(advice), "{err}");
        assert_eq!(sandbox.text(), ACL);
        sandbox.assert_only(&["roomgate", "team.toml"]);
    }
}

#[test]
fn the_file_comes_from_the_flag_the_environment_or_acl_toml() {
    let sandbox = Sandbox::new("which-file");
    // ROOMGATE_ACL, relative to the working directory.
    let out = sandbox.run(&["acl", "list"], &[("ROOMGATE_ACL", "team.toml")]);
    assert_ok(&out);
    assert!(stdout(&out).starts_with("USER "));

    // Neither: acl.toml in the working directory.
    let out = sandbox.run(&["acl", "remove", "bob"], &[]);
    assert_refused(&out);
    assert!(
        stderr(&out).starts_with("acl.toml: not changed: there is no such file"),
        "{}",
        stderr(&out)
    );

    fs::copy(&sandbox.acl, sandbox.dir.join("acl.toml")).unwrap();
    let out = sandbox.run(&["acl", "remove", "bob"], &[]);
    assert_ok(&out);
    assert_eq!(stdout(&out), "removed bob from acl.toml\n");
    assert_eq!(sandbox.text(), ACL);

    // The flag wins over the environment, before or after the subcommand.
    let other = sandbox.dir.join("other.toml");
    let other_arg = other.to_str().unwrap();
    let out = sandbox.run(
        &[
            "acl",
            "revoke",
            "--acl",
            sandbox.acl.to_str().unwrap(),
            "alice",
            "standup",
        ],
        &[("ROOMGATE_ACL", other_arg)],
    );
    assert_ok(&out);
    assert_ne!(sandbox.text(), ACL);
    assert!(!other.exists());
    sandbox.assert_only(&["acl.toml", "team.toml"]);
}

#[test]
fn check_takes_its_file_as_an_argument_or_from_acl() {
    let sandbox = Sandbox::new("check");
    let path = sandbox.acl.to_str().unwrap();
    let out = sandbox.run(&["acl", "check", path], &[]);
    assert_ok(&out);
    assert_eq!(stdout(&out), "3 users, 3 rooms, any room for 1 user\n");
    let out = sandbox.acl(&["check"]);
    assert_ok(&out);
    assert_eq!(stdout(&out), "3 users, 3 rooms, any room for 1 user\n");
    let out = sandbox.acl(&["check", path]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_broken_file_is_not_edited() {
    let sandbox = Sandbox::new("broken");
    let broken = "[users.alice]\nphone = \"+14155550101\nrooms = [\"standup\"]\n";
    fs::write(&sandbox.acl, broken).unwrap();
    let out = sandbox.acl(&["grant", "alice", "ops"]);
    assert_refused(&out);
    let file = sandbox.acl.display();
    assert_eq!(
        stderr(&out),
        format!(
            "{file}:2:22: invalid basic string, expected `\"`\n{file}: not changed: fix the error above first\n"
        )
    );
    assert_eq!(fs::read_to_string(&sandbox.acl).unwrap(), broken);
    sandbox.assert_only(&["team.toml"]);
}

#[cfg(unix)]
#[test]
fn an_edit_keeps_the_file_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let sandbox = Sandbox::new("mode");
    fs::set_permissions(&sandbox.acl, fs::Permissions::from_mode(0o600)).unwrap();
    assert_ok(&sandbox.acl(&["grant", "carol", "ops"]));
    let mode = fs::metadata(&sandbox.acl).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(Path::new(&sandbox.acl).is_file());
}

/// A file read-only for everyone is kept as it is (a rename would get past its mode),
/// and the host is told how to allow the change.
#[cfg(unix)]
#[test]
fn a_read_only_file_is_not_replaced() {
    use std::os::unix::fs::PermissionsExt;
    let sandbox = Sandbox::new("readonly");
    fs::set_permissions(&sandbox.acl, fs::Permissions::from_mode(0o444)).unwrap();
    let before = sandbox.text();
    let out = sandbox.acl(&["grant", "carol", "ops"]);
    assert_refused(&out);
    assert!(
        stderr(&out)
            .contains("not changed: the file is read-only (mode 0444); make it writable first"),
        "{}",
        stderr(&out)
    );
    assert_eq!(sandbox.text(), before);
    fs::set_permissions(&sandbox.acl, fs::Permissions::from_mode(0o644)).unwrap();
    assert_ok(&sandbox.acl(&["grant", "carol", "ops"]));
}

#[test]
fn room_settings_are_added_and_changed_keeping_comments() {
    let sandbox = Sandbox::new("room");
    let out = sandbox.acl(&[
        "room",
        "standup",
        "--recording",
        "host",
        "--retention-days",
        "90",
    ]);
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        format!(
            "room standup now has recording host, retention 90 days in {}\n",
            sandbox.acl.display()
        )
    );
    // A new table at the end, spaced and styled like the last user's.
    let added = format!("{ACL}\n[rooms.standup]\nrecording  =  \"host\"\nretention_days  =  90\n");
    assert_eq!(sandbox.text(), added);

    // A comment by hand, then one value changed: the comment stays, the other value too.
    fs::write(
        &sandbox.acl,
        added.replace(
            "recording  =  \"host\"",
            "recording  =  \"host\"  # ask first",
        ),
    )
    .unwrap();
    assert_ok(&sandbox.acl(&["room", "standup", "--recording", "always"]));
    assert_eq!(
        sandbox.text(),
        added.replace(
            "recording  =  \"host\"",
            "recording  =  \"always\"  # ask first"
        )
    );
    let out = sandbox.acl(&["room", "standup", "--recording", "always"]);
    assert_ok(&out);
    assert!(
        stdout(&out).contains("already has recording always"),
        "{}",
        stdout(&out)
    );
    assert_ok(&sandbox.acl(&["check"]));

    // Refused, the file untouched: bad values, a pattern for a name, nothing to set.
    let before = sandbox.text();
    for args in [
        &["room", "standup", "--recording", "on"][..],
        &["room", "standup", "--retention-days", "0"][..],
        &["room", "standup", "--retention-days", "3651"][..],
        &["room", "standup", "--retention-days=-1"][..],
        &["room", "*", "--recording", "host"][..],
    ] {
        let out = sandbox.acl(args);
        assert_refused(&out);
        assert_eq!(sandbox.text(), before, "{args:?}");
    }
    // No setting at all is a usage error.
    let out = sandbox.acl(&["room", "standup"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(sandbox.text(), before);
    sandbox.assert_only(&["team.toml"]);
}

/// `.env` is read from the working directory only: one in a directory above (a stray
/// file on a server, another project's) must not change what the commands do.
#[test]
fn only_the_working_directorys_env_file_is_read() {
    let sandbox = Sandbox::new("dotenv");
    let below = sandbox.dir.join("below");
    fs::create_dir(&below).unwrap();
    // The sandbox's list has numbers of several countries; `US` alone refuses some.
    fs::write(sandbox.dir.join(".env"), "ROOMGATE_ALLOWED_COUNTRIES=US\n").unwrap();
    let check = |dir: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_roomgate"))
            .args(["acl", "check", sandbox.acl.to_str().unwrap()])
            .env_clear()
            .current_dir(dir)
            .output()
            .unwrap()
    };
    let here = check(&sandbox.dir);
    assert_eq!(here.status.code(), Some(1), "the .env here applies");
    assert!(
        String::from_utf8_lossy(&here.stderr).contains("not in"),
        "{here:?}"
    );
    let above = check(&below);
    assert!(above.status.success(), "a .env above applied: {above:?}");
}
