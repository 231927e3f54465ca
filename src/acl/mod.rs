//! The access list: which user may join which room, and the phone their codes go to.
//!
//! The host edits a TOML file by hand or with `roomgate acl add|remove|set-phone|
//! grant|revoke` (see [`edit`], which keeps the file's comments and layout), for
//! example:
//!
//! ```toml
//! [users.alice]
//! phone = "+14155550101"
//! rooms = ["standup", "all-hands"]
//! role = "host"
//!
//! [users.bob]
//! phone = "+447400123456"
//! rooms = ["*"]            # any room
//! ```
//!
//! A room may have settings of its own in a `[rooms.NAME]` table (a room without
//! one has the defaults, see [`RoomSettings`]):
//!
//! ```toml
//! [rooms.standup]
//! recording = "host"      # "off" (the default), "host" or "always"
//! retention_days = 90     # 1 to 3650; the default is 30
//! ```
//!
//! `role` is `"participant"` (the default) or `"host"`. `channels` says how codes may
//! reach the user: `["sms"]` (the default) or `["sms", "call"]`, which lets the code
//! page's "Call me instead" call them. `"sms"` must be listed: every sign-in starts
//! with a text.
//!
//! Because a person writes it, a bad file is reported like a compiler would: every
//! problem as `FILE:LINE:COLUMN: KEY.PATH: message`, sorted by position, so that one
//! run of `roomgate acl check` is enough to fix them all. The one exception is a
//! TOML syntax or type error, after which nothing else can be trusted: it is
//! reported alone.
//!
//! An `Acl` is only ever built whole and valid; reloading means parsing a new one.
//!
//! What the file may contain is also bounded by the deployment, through an
//! [`AclPolicy`]: with `ROOMGATE_ALLOWED_COUNTRIES` set, a number outside those
//! countries is an error like any other, so such a list never loads and no code is
//! ever sent to that number.

pub mod departures;
pub mod edit;
mod parse;
pub(crate) mod read;
pub mod watch;

pub use read::{MAX_FILE_BYTES, ReadError};
pub use watch::{AclStatus, AclStore, ReloadOutcome};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::Path;

use crate::domain::{PhoneNumber, RoomName, RoomPattern, Username};
use crate::verify::{Channel, Channels};

/// The list a start puts in service, and the SHA-256 of the bytes it was read from
/// (`None`: not read from its file as is, as in tests): the watch knows a file that
/// still holds them without parsing it.
pub struct StartList {
    pub acl: Acl,
    pub digest: Option<[u8; 32]>,
}

impl From<Acl> for StartList {
    fn from(acl: Acl) -> Self {
        Self { acl, digest: None }
    }
}

/// A parsed, valid access list. Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acl {
    users: BTreeMap<Username, AclUser>,
    /// Only the rooms with a `[rooms.NAME]` table; every other room has the defaults.
    rooms: BTreeMap<RoomName, RoomSettings>,
}

/// Whether a room's video is recorded: `recording = "…"` in its `[rooms.NAME]` table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordingMode {
    /// Never recorded. The default.
    #[default]
    Off,
    /// Recorded while a host of the room has it on (Start and Stop in the room).
    Host,
    /// Recorded from the first participant on, for as long as the room is open.
    Always,
}

impl RecordingMode {
    /// Exactly as written in the file: lower case, no other spellings.
    pub fn parse(s: &str) -> Option<RecordingMode> {
        match s {
            "off" => Some(RecordingMode::Off),
            "host" => Some(RecordingMode::Host),
            "always" => Some(RecordingMode::Always),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RecordingMode::Off => "off",
            RecordingMode::Host => "host",
            RecordingMode::Always => "always",
        }
    }
}

impl fmt::Display for RecordingMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One room's settings, from its `[rooms.NAME]` table; [`Default`] for a room
/// without one. Later settings (a waiting room, opening hours) belong here too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoomSettings {
    pub recording: RecordingMode,
    /// How long a stored recording of the room is kept, in days:
    /// [`RoomSettings::RETENTION_DAYS`].
    pub retention_days: u32,
}

impl RoomSettings {
    /// The `retention_days` a file may give: at least a day (a recording deleted
    /// before anyone can fetch it is pointless), at most ten years (beyond which a
    /// number is more likely a typo than a policy).
    pub const RETENTION_DAYS: std::ops::RangeInclusive<u32> = 1..=3650;
    pub const DEFAULT_RETENTION_DAYS: u32 = 30;

    /// Whether the join page should say that the room may be recorded.
    pub fn may_record(&self) -> bool {
        self.recording != RecordingMode::Off
    }
}

impl Default for RoomSettings {
    fn default() -> Self {
        Self {
            recording: RecordingMode::Off,
            retention_days: Self::DEFAULT_RETENTION_DAYS,
        }
    }
}

/// One user's entry. `Debug` shows only a masked phone number (see `PhoneNumber`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclUser {
    pub phone: PhoneNumber,
    /// Non-empty and without duplicates.
    pub rooms: Vec<RoomPattern>,
    pub role: Role,
    /// How codes may reach them: `sms` always, `call` if allowed.
    pub channels: Channels,
}

impl AclUser {
    /// Whether "Call me instead" calls this user.
    pub fn may_use(&self, channel: Channel) -> bool {
        self.channels.contains(channel)
    }

    pub fn may_join(&self, room: &RoomName) -> bool {
        self.rooms.iter().any(|pattern| pattern.matches(room))
    }

    pub fn is_host(&self) -> bool {
        self.role == Role::Host
    }
}

/// What a user is in the rooms they may join: `role = "host"` in the file, or
/// `"participant"`, the default when `role` is left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    #[default]
    Participant,
    Host,
}

impl Role {
    /// Exactly as written in the file: lower case, no other spellings, so that the
    /// file has one way to say each thing.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "participant" => Some(Role::Participant),
            "host" => Some(Role::Host),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Participant => "participant",
            Role::Host => "host",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The environment variable [`AclPolicy::from_lookup`] reads.
pub const ALLOWED_COUNTRIES_VAR: &str = "ROOMGATE_ALLOWED_COUNTRIES";

/// Limits the deployment puts on what an ACL may contain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclPolicy {
    /// ISO 3166 alpha-2 codes (upper case when built by `from_lookup`) that phone
    /// numbers must belong to. `None` allows any country; an empty set allows none.
    pub allowed_countries: Option<BTreeSet<String>>,
}

impl AclPolicy {
    /// Reads `ROOMGATE_ALLOWED_COUNTRIES`: ISO 3166 alpha-2 codes separated by
    /// commas and/or spaces, in any case (`us, ca` or `GB IE`). Unset or blank allows
    /// any country. Errors are one line each, naming the variable, like
    /// `Settings::from_lookup`'s.
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, Vec<String>> {
        let Some(raw) = var(ALLOWED_COUNTRIES_VAR).filter(|v| !v.trim().is_empty()) else {
            return Ok(Self::default());
        };
        let mut codes = BTreeSet::new();
        let mut errors = Vec::new();
        for code in raw
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|code| !code.is_empty())
        {
            let upper = code.to_ascii_uppercase();
            // A code no number belongs to (`UK`, say) would refuse every number of the
            // country meant, so it is an error, not an empty entry.
            if code.len() == 2 && upper.parse::<phonenumber::country::Id>().is_ok() {
                codes.insert(upper);
            } else {
                let meant = match upper.as_str() {
                    "UK" => " (the United Kingdom is GB)",
                    "EL" => " (Greece is GR)",
                    _ => "",
                };
                errors.push(format!(
                    "{ALLOWED_COUNTRIES_VAR}: {code:?} is not a country's ISO 3166 alpha-2 code{meant}"
                ));
            }
        }
        // Only separators, e.g. ",": the host meant to restrict something, so
        // silently allowing every country would be the wrong way to fail.
        if codes.is_empty() && errors.is_empty() {
            errors.push(format!(
                "{ALLOWED_COUNTRIES_VAR}: {raw:?} names no country (leave it unset to allow any)"
            ));
        }
        if errors.is_empty() {
            Ok(Self {
                allowed_countries: Some(codes),
            })
        } else {
            Err(errors)
        }
    }

    /// Whether an ACL may contain `phone`. With a country list, a number whose
    /// region `phonenumber` does not know (e.g. `+800` freephone) is refused.
    pub fn allows(&self, phone: &PhoneNumber) -> bool {
        match (&self.allowed_countries, phone.region()) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(countries), Some(region)) => countries
                .iter()
                .any(|country| country.eq_ignore_ascii_case(region)),
        }
    }

    /// Why an ACL may not contain `phone`, or `None` if it may. Shows the number
    /// masked only.
    fn refusal(&self, phone: &PhoneNumber) -> Option<String> {
        if self.allows(phone) {
            return None;
        }
        let list = self.countries_list();
        let masked = phone.masked();
        Some(match phone.region() {
            Some(region) => {
                format!("{masked} is in {region}, which is not in {ALLOWED_COUNTRIES_VAR} ({list})")
            }
            None => format!(
                "{masked} has no known country, so it is not in {ALLOWED_COUNTRIES_VAR} ({list})"
            ),
        })
    }

    /// `CA, US`, or `none` for an empty list.
    fn countries_list(&self) -> String {
        let countries: Vec<String> = self
            .allowed_countries
            .iter()
            .flatten()
            .map(|country| country.to_ascii_uppercase())
            .collect();
        if countries.is_empty() {
            "none".to_owned()
        } else {
            countries.join(", ")
        }
    }
}

impl Acl {
    /// `origin` is how the file is named in errors (e.g. the path as given).
    /// Any phone number is accepted; see [`Acl::parse_with`].
    pub fn parse(origin: &str, text: &str) -> Result<Acl, AclErrors> {
        Self::parse_with(origin, text, &AclPolicy::default())
    }

    /// Like [`Acl::parse`], and every phone number must also satisfy `policy`.
    pub fn parse_with(origin: &str, text: &str, policy: &AclPolicy) -> Result<Acl, AclErrors> {
        parse::parse(origin, text, policy)
    }

    /// Reads then parses; an unreadable file (or one that is not a regular file, or
    /// is over [`MAX_FILE_BYTES`]) is a single error without a position. Any phone
    /// number is accepted; see [`Acl::load_with`].
    pub fn load(path: &Path) -> Result<Acl, AclErrors> {
        Self::load_with(path, &AclPolicy::default())
    }

    /// Like [`Acl::load`], and every phone number must also satisfy `policy`.
    pub fn load_with(path: &Path, policy: &AclPolicy) -> Result<Acl, AclErrors> {
        Self::load_read(path, read::read(path), policy)
    }

    /// The list a start puts in service: [`Acl::load_with`] of a file that has
    /// stopped changing ([`read::read_settled`]), with the digest of what was read.
    /// Blocking: it may wait a few seconds for a file being written.
    pub fn load_at_start(path: &Path, policy: &AclPolicy) -> Result<StartList, AclErrors> {
        let read = read::read_settled(path);
        let digest = read
            .as_ref()
            .ok()
            .map(|bytes| <[u8; 32]>::from(<sha2::Sha256 as sha2::Digest>::digest(bytes)));
        let acl = Self::load_read(path, read, policy)?;
        Ok(StartList { acl, digest })
    }

    fn load_read(
        path: &Path,
        read: Result<Vec<u8>, ReadError>,
        policy: &AclPolicy,
    ) -> Result<Acl, AclErrors> {
        match read {
            Ok(bytes) => Self::parse_bytes(path, bytes, policy),
            // A first start without a list: say how to make one.
            Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Self::unreadable(
                    path,
                    &format_args!(
                        "{e}; start one from a copy of acl.example.toml (the example that \
                         comes with roomgate), then edit it or use `roomgate acl add`"
                    ),
                ))
            }
            Err(e) => Err(Self::unreadable(path, &e)),
        }
    }

    /// The one error of a file that can't be read (or isn't UTF-8).
    /// Parses `bytes`, read from `path`: text that is not UTF-8 is one error at the
    /// line and column of its first bad byte, saying what the file probably is.
    pub(crate) fn parse_bytes(
        path: &Path,
        bytes: Vec<u8>,
        policy: &AclPolicy,
    ) -> Result<Acl, AclErrors> {
        match String::from_utf8(bytes) {
            Ok(text) => Self::parse_with(&path.display().to_string(), &text, policy),
            Err(e) => Err(Self::not_utf8(
                path,
                e.as_bytes(),
                e.utf8_error().valid_up_to(),
            )),
        }
    }

    pub(crate) fn not_utf8(path: &Path, bytes: &[u8], valid: usize) -> AclErrors {
        let before = String::from_utf8_lossy(&bytes[..valid]);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        let utf16 = bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]);
        let message = if utf16 {
            "the file is UTF-16 text; save it as UTF-8".to_owned()
        } else {
            format!(
                "byte 0x{:02X} is not UTF-8 text (a file saved as Latin-1 or Windows-1252?); \
                 save it as UTF-8",
                bytes[valid]
            )
        };
        AclErrors(vec![AclError {
            origin: path.display().to_string(),
            line,
            column,
            path: String::new(),
            message,
        }])
    }

    pub(crate) fn unreadable(path: &Path, e: &dyn fmt::Display) -> AclErrors {
        AclErrors(vec![AclError {
            origin: path.display().to_string(),
            line: 0,
            column: 0,
            path: String::new(),
            message: format!("cannot read: {e}"),
        }])
    }

    pub fn user(&self, username: &Username) -> Option<&AclUser> {
        self.users.get(username)
    }

    /// The user's entry if they may join `room`.
    pub fn allowed(&self, username: &Username, room: &RoomName) -> Option<&AclUser> {
        self.user(username).filter(|user| user.may_join(room))
    }

    /// In username order.
    pub fn users(&self) -> impl Iterator<Item = (&Username, &AclUser)> {
        self.users.iter()
    }

    /// The room's settings: its `[rooms.NAME]` table, or the defaults.
    pub fn room_settings(&self, room: &RoomName) -> RoomSettings {
        self.rooms.get(room).copied().unwrap_or_default()
    }

    /// The rooms with a `[rooms.NAME]` table, in name order.
    pub fn configured_rooms(&self) -> impl Iterator<Item = (&RoomName, &RoomSettings)> {
        self.rooms.iter()
    }

    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// The other users with `user`'s phone number (see [`Acl::warnings`]).
    pub fn sharing_number(&self, user: &Username) -> Vec<&Username> {
        let Some(phone) = self.users.get(user).map(|u| u.phone.expose_e164()) else {
            return Vec::new();
        };
        self.users
            .iter()
            .filter(|(name, u)| *name != user && u.phone.expose_e164() == phone)
            .map(|(name, _)| name)
            .collect()
    }

    /// Likely slips in a list that is valid all the same, one sentence each, numbers
    /// masked: users who share a phone number (a copy-paste of the line above, say:
    /// a code for any of them goes to the same phone, so whoever holds it can sign in
    /// as each of them; allowed, for a shared family phone, but worth a look), and
    /// settings for a room nobody may join.
    pub fn warnings(&self) -> Vec<String> {
        let mut by_number: HashMap<&str, Vec<&Username>> = HashMap::new();
        for (name, user) in &self.users {
            by_number
                .entry(user.phone.expose_e164())
                .or_default()
                .push(name);
        }
        let mut warnings: Vec<String> = by_number
            .into_values()
            .filter(|names| names.len() > 1)
            .map(|names| {
                let masked = self.users[names[0]].phone.masked();
                let names: Vec<String> = names.iter().map(ToString::to_string).collect();
                format!(
                    "{} have the same phone number ({masked}): whoever holds that phone \
                     can sign in as each of them",
                    names.join(", ")
                )
            })
            .collect();
        warnings.sort();
        // A `[rooms.NAME]` nobody may join is most likely a misspelt room, whose real
        // one is left with the defaults (a shorter retention, no recording).
        for room in self.rooms.keys() {
            if !self.users.values().any(|u| u.may_join(room)) {
                warnings.push(format!(
                    "[rooms.{room}] is for a room nobody on the list may join: a misspelt \
                     room name? (the room meant keeps the defaults)"
                ));
            }
        }
        warnings
    }

    /// Distinct rooms named in the file; `*` is not one of them (see [`Self::rooms_summary`]).
    pub fn room_count(&self) -> usize {
        self.users
            .values()
            .flat_map(|user| &user.rooms)
            .filter(|pattern| !matches!(pattern, RoomPattern::Any))
            .collect::<BTreeSet<_>>()
            .len()
    }

    /// The rooms part of `acl check`'s and `acl list`'s summaries: `4 rooms`, or
    /// `3 rooms, any room for 1 user` when some may join any room (`*` is not a room,
    /// so it is not counted as one).
    fn rooms_summary(&self) -> String {
        let rooms = plural(self.room_count(), "room");
        let anywhere = self
            .users
            .values()
            .filter(|user| user.rooms.contains(&RoomPattern::Any))
            .count();
        let any = format!("any room for {}", plural(anywhere, "user"));
        match (self.room_count(), anywhere) {
            (_, 0) => rooms,
            (0, _) => any,
            _ => format!("{rooms}, {any}"),
        }
    }
}

impl Acl {
    /// What `roomgate acl list` prints: a header, one aligned line per user in
    /// username order (name, role, phone, channels, rooms), and a summary; then, if
    /// any room has a `[rooms.NAME]` table, one line per such room (name, recording,
    /// retention). Phone numbers are masked unless `show_phones`; a user's rooms come
    /// last because they are the one column of unbounded width.
    pub fn listing(&self, show_phones: bool) -> String {
        let header = ["USER", "ROLE", "PHONE", "CHANNELS", "ROOMS"].map(str::to_owned);
        let rows: Vec<[String; 5]> = self
            .users()
            .map(|(name, user)| {
                let phone = if show_phones {
                    user.phone.expose_e164().to_owned()
                } else {
                    user.phone.masked()
                };
                let rooms: Vec<String> = user.rooms.iter().map(ToString::to_string).collect();
                let channels: Vec<&str> = user.channels.iter().map(|c| c.as_str()).collect();
                [
                    name.to_string(),
                    user.role.to_string(),
                    phone,
                    channels.join(","),
                    rooms.join(", "),
                ]
            })
            .collect();
        let mut widths = [0; 5];
        for row in std::iter::once(&header).chain(&rows) {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&header).chain(&rows) {
            let line = format!(
                "{:<w0$}  {:<w1$}  {:<w2$}  {:<w3$}  {}",
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3],
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
        let hosts = self.users.values().filter(|user| user.is_host()).count();
        out.push_str(&format!(
            "{} ({}, {}), {}",
            plural(self.user_count(), "user"),
            plural(hosts, "host"),
            plural(self.user_count() - hosts, "participant"),
            self.rooms_summary(),
        ));
        if !show_phones {
            out.push_str("; phone numbers masked (--show-phones shows them)");
        }
        out.push('\n');
        // Rooms with a [rooms.NAME] table, after a blank line; every other room has
        // the defaults.
        if !self.rooms.is_empty() {
            let width = self
                .rooms
                .keys()
                .map(|room| room.as_str().chars().count())
                .max()
                .unwrap_or(0)
                .max("ROOM".len());
            out.push_str(&format!("\n{:<width$}  RECORDING  RETENTION\n", "ROOM"));
            for (room, settings) in &self.rooms {
                out.push_str(&format!(
                    "{:<width$}  {:<9}  {} days\n",
                    room.as_str(),
                    settings.recording.as_str(),
                    settings.retention_days,
                ));
            }
        }
        out
    }
}

/// Parses the file at `path` under `policy` (as `serve` would) and returns what
/// `roomgate acl list` prints; see [`Acl::listing`].
pub fn list_file_with(
    path: &Path,
    policy: &AclPolicy,
    show_phones: bool,
) -> Result<String, AclErrors> {
    Ok(Acl::load_with(path, policy)?.listing(show_phones))
}

/// Parses the file at `path` and returns the one-line summary that
/// `roomgate acl check` prints, e.g. `3 users, 3 rooms, any room for 1 user`. Any phone number is
/// accepted; see [`check_file_with`].
pub fn check_file(path: &Path) -> Result<String, AclErrors> {
    check_file_with(path, &AclPolicy::default())
}

/// Like [`check_file`], and every phone number must also satisfy `policy`, so that
/// `roomgate acl check` refuses whatever `serve` would.
pub fn check_file_with(path: &Path, policy: &AclPolicy) -> Result<String, AclErrors> {
    let acl = Acl::load_with(path, policy)?;
    let mut summary = format!(
        "{}, {}",
        plural(acl.user_count(), "user"),
        acl.rooms_summary()
    );
    for warning in acl.warnings() {
        summary.push_str(&format!("\nwarning: {warning}"));
    }
    Ok(summary)
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// One problem in an ACL file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclError {
    /// The file as named by the caller.
    pub origin: String,
    /// 1-based; 0 when the problem has no position (the file could not be read).
    pub line: usize,
    /// 1-based, in characters; 0 together with `line`.
    pub column: usize,
    /// The TOML key the problem is about, e.g. `users.carol.phone`; may be empty.
    pub path: String,
    /// A single line.
    pub message: String,
}

impl fmt::Display for AclError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.origin)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for AclError {}

/// Every problem found in an ACL file, sorted by position. Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclErrors(pub Vec<AclError>);

impl fmt::Display for AclErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            error.fmt(f)?;
        }
        Ok(())
    }
}

impl std::error::Error for AclErrors {}

impl AclError {
    /// This error for logs, `/readyz` and the audit log: anything that looks like a
    /// phone number is withheld. The full text goes only to the host at the terminal
    /// (`acl check`, start-up), who typed the value.
    pub fn redacted(&self) -> String {
        let redacted = AclError {
            message: withhold_numbers(&self.message),
            ..self.clone()
        };
        redacted.to_string()
    }
}

impl AclErrors {
    /// Every error, one per line, as [`AclError::redacted`].
    pub fn redacted(&self) -> String {
        self.0
            .iter()
            .map(AclError::redacted)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Replace each run of digits (with the `+`, spaces, dashes, dots and brackets phone
/// numbers are written with) holding five digits or more.
fn withhold_numbers(text: &str) -> String {
    const PART: &[char] = &['+', ' ', '-', '.', '(', ')'];
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() || chars[i] == '+' {
            let mut end = i;
            while end < chars.len() && (chars[end].is_ascii_digit() || PART.contains(&chars[end])) {
                end += 1;
            }
            // Don't swallow the space or bracket after the number.
            while end > i && !chars[end - 1].is_ascii_digit() {
                end -= 1;
            }
            let digits = chars[i..end].iter().filter(|c| c.is_ascii_digit()).count();
            if digits >= 5 {
                out.push_str("[number withheld]");
                i = end;
                continue;
            }
            out.extend(&chars[i..end.max(i + 1)]);
            i = end.max(i + 1);
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_number_written_the_usual_wrong_ways_gets_a_hint_and_logs_hide_it() {
        let cases = [
            (
                "07400123456",
                "start with + and the country code, leaving out the national 0",
            ),
            (
                "+44 7400 123456",
                "write it without spaces or punctuation: +447400123456",
            ),
            (
                "+1-415-555-0101",
                "write it without spaces or punctuation: +14155550101",
            ),
            (" +14155550101", "remove the spaces around it"),
            (
                "+4407400123456",
                "a national 0 after the country code is left out",
            ),
            (
                "00447400123456",
                "write + for the international 00: +447400123456",
            ),
        ];
        for (number, hint) in cases {
            let text = format!("[users.a]\nphone = \"{number}\"\nrooms = [\"x\"]\n");
            let errors = super::Acl::parse("acl.toml", &text).unwrap_err();
            assert!(errors.to_string().contains(hint), "{number}: {errors}");
            let logged = errors.redacted();
            for digits in ["7400123456", "4155550101", "7400 123456", "415-555"] {
                assert!(!logged.contains(digits), "{number}: {logged}");
            }
        }
    }

    #[test]
    fn redacted_errors_withhold_numbers_but_keep_positions() {
        let text = "[users.alice]\nphone = \"+141555501011\"\nrooms = [\"x\"]\n";
        let errors = super::Acl::parse("acl.toml", text).unwrap_err();
        assert!(
            errors.to_string().contains("+141555501011"),
            "the host sees the value"
        );
        let redacted = errors.redacted();
        assert!(
            redacted.starts_with("acl.toml:2:9: users.alice.phone: \"[number withheld]\""),
            "{redacted}"
        );
        assert!(!redacted.contains("4155550"));
        let int = super::Acl::parse(
            "acl.toml",
            "[users.a]\nphone = 14155550101\nrooms = [\"x\"]\n",
        )
        .unwrap_err()
        .redacted();
        assert!(!int.contains("14155550101"), "{int}");
        assert_eq!(
            super::withhold_numbers("room r2 at 10:30, line 1234: +44 7400 123456."),
            "room r2 at 10:30, line 1234: [number withheld]."
        );
    }

    use super::*;

    /// Alice in two rooms, bob in every room, carol in one. Other modules' tests
    /// start from it too.
    pub(crate) const SAMPLE: &str = r#"
[users.alice]
phone = "+14155550101"
rooms = ["standup", "all-hands"]

[users.bob]
phone = "+447400123456"
rooms = ["*"]
channels = ["sms", "call"]

[users.carol]
phone = "+61412345678"
rooms = ["standup"]
"#;

    pub(crate) fn sample() -> Acl {
        Acl::parse("acl.toml", SAMPLE).unwrap()
    }

    pub(crate) fn user(s: &str) -> Username {
        Username::parse(s).unwrap()
    }

    fn room(s: &str) -> RoomName {
        RoomName::parse(s).unwrap()
    }

    #[test]
    fn looks_up_users_by_name() {
        let acl = sample();
        let alice = acl.user(&user("alice")).unwrap();
        assert_eq!(alice.phone.expose_e164(), "+14155550101");
        assert_eq!(
            alice.rooms,
            [
                RoomPattern::parse("standup").unwrap(),
                RoomPattern::parse("all-hands").unwrap()
            ]
        );
        assert!(acl.user(&user("mallory")).is_none());
    }

    #[test]
    fn allowed_checks_the_room() {
        let acl = sample();
        let alice = acl.allowed(&user("alice"), &room("standup")).unwrap();
        assert_eq!(alice.phone.expose_e164(), "+14155550101");
        assert!(acl.allowed(&user("alice"), &room("secret")).is_none());
        assert!(acl.allowed(&user("carol"), &room("all-hands")).is_none());
        assert!(acl.allowed(&user("mallory"), &room("standup")).is_none());
    }

    #[test]
    fn star_lets_a_user_into_any_room() {
        let acl = sample();
        for r in ["standup", "secret", "x"] {
            assert!(acl.allowed(&user("bob"), &room(r)).is_some(), "{r}");
        }
    }

    #[test]
    fn may_join_matches_any_listed_pattern() {
        let acl = sample();
        let alice = acl.user(&user("alice")).unwrap();
        assert!(alice.may_join(&room("standup")));
        assert!(alice.may_join(&room("all-hands")));
        assert!(!alice.may_join(&room("standups")));
    }

    #[test]
    fn role_is_participant_unless_the_file_says_host() {
        let text = format!("{SAMPLE}role = \"host\"\n");
        let acl = Acl::parse("acl.toml", &text).unwrap();
        let hosts: Vec<_> = acl
            .users()
            .filter(|(_, user)| user.is_host())
            .map(|(name, _)| name.as_str())
            .collect();
        assert_eq!(hosts, ["carol"]);
        assert_eq!(acl.user(&user("alice")).unwrap().role, Role::Participant);
        assert_eq!(Role::default(), Role::Participant);
    }

    #[test]
    fn roles_parse_and_print_as_written_in_the_file() {
        for role in [Role::Participant, Role::Host] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            assert_eq!(role.to_string(), role.as_str());
        }
        for bad in ["", "Host", "HOST", "admin", "host "] {
            assert_eq!(Role::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn listing_is_aligned_and_masks_phones_unless_asked() {
        let text = format!("{SAMPLE}role = \"host\"\n");
        let acl = Acl::parse("acl.toml", &text).unwrap();
        assert_eq!(
            acl.listing(false),
            "USER   ROLE         PHONE          CHANNELS  ROOMS\n\
             alice  participant  +1********01   sms       standup, all-hands\n\
             bob    participant  +44********56  sms,call  *\n\
             carol  host         +61*******78   sms       standup\n\
             3 users (1 host, 2 participants), 2 rooms, any room for 1 user; phone numbers masked (--show-phones shows them)\n"
        );
        assert_eq!(
            acl.listing(true),
            "USER   ROLE         PHONE          CHANNELS  ROOMS\n\
             alice  participant  +14155550101   sms       standup, all-hands\n\
             bob    participant  +447400123456  sms,call  *\n\
             carol  host         +61412345678   sms       standup\n\
             3 users (1 host, 2 participants), 2 rooms, any room for 1 user\n"
        );
    }

    #[test]
    fn listing_ends_with_the_rooms_that_have_settings() {
        let text = format!(
            "{SAMPLE}\n[rooms.standup]\nrecording = \"host\"\nretention_days = 90\n\
             [rooms.all-hands]\nrecording = \"always\"\n"
        );
        let listing = Acl::parse("acl.toml", &text).unwrap().listing(false);
        assert!(
            listing.ends_with(
                "(--show-phones shows them)\n\n\
                 ROOM       RECORDING  RETENTION\n\
                 all-hands  always     30 days\n\
                 standup    host       90 days\n"
            ),
            "{listing}"
        );
    }

    #[test]
    fn listing_widens_columns_for_long_names() {
        let name = "a-rather-long.username";
        let text = format!("[users.{name:?}]\nphone = \"+14155550101\"\nrooms = [\"x\"]\n");
        let acl = Acl::parse("acl.toml", &text).unwrap();
        let listing = acl.listing(false);
        let lines: Vec<&str> = listing.lines().collect();
        assert_eq!(
            lines[0],
            format!("{:<22}  ROLE         PHONE         CHANNELS  ROOMS", "USER")
        );
        assert_eq!(
            lines[1],
            format!("{name}  participant  +1********01  sms       x")
        );
        assert_eq!(
            lines[2],
            "1 user (0 hosts, 1 participant), 1 room; phone numbers masked (--show-phones shows them)"
        );
    }

    #[test]
    fn channels_default_to_sms_and_may_add_calls() {
        let acl = sample();
        let alice = acl.user(&user("alice")).unwrap();
        assert_eq!(alice.channels.to_vec(), [Channel::Sms]);
        assert!(!alice.may_use(Channel::Call));
        let bob = acl.user(&user("bob")).unwrap();
        assert_eq!(bob.channels.to_vec(), [Channel::Sms, Channel::Call]);
        assert!(bob.may_use(Channel::Call));
    }

    #[test]
    fn counts_users_and_distinct_rooms() {
        let acl = sample();
        assert_eq!(acl.user_count(), 3);
        // standup (twice) and all-hands; `*` is not a room.
        assert_eq!(acl.room_count(), 2);
        let names: Vec<_> = acl.users().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["alice", "bob", "carol"]);
    }

    #[test]
    fn debug_masks_phone_numbers() {
        let debug = format!("{:?}", sample());
        assert!(debug.contains("alice"), "{debug}");
        for full in ["4155550101", "7400123456", "412345678"] {
            assert!(!debug.contains(full), "{debug}");
        }
    }

    #[test]
    fn error_display_formats() {
        let mut error = AclError {
            origin: "acl.toml".into(),
            line: 7,
            column: 9,
            path: "users.carol.phone".into(),
            message: r#""555-0101" is not an E.164 number"#.into(),
        };
        assert_eq!(
            error.to_string(),
            r#"acl.toml:7:9: users.carol.phone: "555-0101" is not an E.164 number"#
        );
        error.path.clear();
        assert_eq!(
            error.to_string(),
            r#"acl.toml:7:9: "555-0101" is not an E.164 number"#
        );
        let unreadable = AclError {
            origin: "acl.toml".into(),
            line: 0,
            column: 0,
            path: String::new(),
            message: "cannot read: denied".into(),
        };
        assert_eq!(unreadable.to_string(), "acl.toml: cannot read: denied");
        let both = AclErrors(vec![error, unreadable]);
        assert_eq!(
            both.to_string(),
            "acl.toml:7:9: \"555-0101\" is not an E.164 number\nacl.toml: cannot read: denied"
        );
    }

    #[test]
    fn a_file_not_in_utf8_is_reported_where_it_goes_wrong() {
        let dir = crate::test_support::TempDir::new("acl-latin1");
        let path = dir.0.join("acl.toml");
        let mut latin1 = b"[users.alice]\n# caf".to_vec();
        latin1.extend([0xE9, b'\n']);
        std::fs::write(&path, &latin1).unwrap();
        let errors = Acl::load(&path).unwrap_err();
        assert_eq!(errors.0.len(), 1);
        let error = &errors.0[0];
        assert_eq!((error.line, error.column), (2, 6), "{error}");
        assert_eq!(
            error.to_string(),
            format!(
                "{}:2:6: byte 0xE9 is not UTF-8 text (a file saved as Latin-1 or \
                 Windows-1252?); save it as UTF-8",
                path.display()
            )
        );
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("[users.alice]\n".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        std::fs::write(&path, utf16).unwrap();
        let errors = Acl::load(&path).unwrap_err();
        assert!(
            errors.0[0]
                .to_string()
                .ends_with(":1:1: the file is UTF-16 text; save it as UTF-8"),
            "{errors}"
        );
    }

    #[test]
    fn load_reports_an_unreadable_file_without_position() {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/no-such-acl.toml"));
        let errors = Acl::load(path).unwrap_err();
        assert_eq!(errors.0.len(), 1);
        let error = &errors.0[0];
        assert_eq!((error.line, error.column), (0, 0));
        assert!(error.message.starts_with("cannot read: "), "{error}");
        // A missing list says how to start one.
        assert!(error.message.contains("acl.example.toml"), "{error}");
        assert!(
            error
                .to_string()
                .starts_with(&format!("{}: cannot read: ", path.display())),
            "{error}"
        );
    }

    #[test]
    fn example_file_parses() {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/acl.example.toml"));
        let acl = Acl::load(path).unwrap_or_else(|e| panic!("{e}"));
        assert!(acl.allowed(&user("alice"), &room("standup")).is_some());
        assert!(acl.allowed(&user("alice"), &room("all-hands")).is_some());
        assert!(acl.allowed(&user("bob"), &room("anything")).is_some());
        assert_eq!(acl.user(&user("carol")).unwrap().rooms.len(), 1);
        let hosts: Vec<_> = acl
            .users()
            .filter(|(_, u)| u.is_host())
            .map(|(name, _)| name.as_str())
            .collect();
        assert_eq!(hosts, ["alice"]);
        assert_eq!(
            acl.room_settings(&room("standup")),
            RoomSettings {
                recording: RecordingMode::Host,
                retention_days: 90
            }
        );
        assert_eq!(
            acl.room_settings(&room("all-hands")),
            RoomSettings::default()
        );
        assert_eq!(
            check_file(path).unwrap(),
            "3 users, 3 rooms, any room for 1 user"
        );
        // Users sharing a number: valid, and said under the counts.
        let dir = crate::test_support::TempDir::new("acl-shared");
        let shared = dir.0.join("acl.toml");
        let alice = "[users.alice]\nphone = \"+14155550101\"\nrooms = [\"standup\"]\n";
        let text = format!(
            "{alice}{}{}",
            alice.replace("alice", "bob"),
            alice.replace("alice", "carol").replace("0101", "0102")
        );
        std::fs::write(
            &shared,
            format!("{text}[rooms.standpu]\nretention_days = 365\n"),
        )
        .unwrap();
        assert_eq!(
            check_file(&shared).unwrap(),
            "3 users, 1 room\nwarning: alice, bob have the same phone number (+1********01): \
             whoever holds that phone can sign in as each of them\n\
             warning: [rooms.standpu] is for a room nobody on the list may join: a misspelt \
             room name? (the room meant keeps the defaults)"
        );
    }

    #[test]
    fn check_file_reports_every_error() {
        let dir = std::env::temp_dir().join(format!("roomgate-acl-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("acl.toml");
        std::fs::write(&path, "[users.alice]\nphone = \"555-0101\"\nrooms = []\n").unwrap();
        let errors = check_file(&path).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        let lines: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
        let origin = path.display();
        assert_eq!(
            lines,
            [
                format!("{origin}:2:9: users.alice.phone: \"555-0101\" is not an E.164 number"),
                format!(
                    "{origin}:3:9: users.alice.rooms: no rooms listed (name at least one, or \"*\" for any room)"
                ),
            ]
        );
    }

    #[test]
    fn summary_uses_singular_for_one() {
        let dir = std::env::temp_dir().join(format!("roomgate-acl-one-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("acl.toml");
        std::fs::write(
            &path,
            "[users.dan]\nphone = \"+14155550101\"\nrooms = [\"a\", \"b\"]\n",
        )
        .unwrap();
        let summary = check_file(&path);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(summary.unwrap(), "1 user, 2 rooms");
        // `*` is no room of its own: only those who may join any room are counted.
        let acl = Acl::parse(
            "acl.toml",
            "[users.dan]\nphone = \"+14155550101\"\nrooms = [\"*\"]\n",
        );
        assert_eq!(acl.unwrap().rooms_summary(), "any room for 1 user");
    }

    fn policy(value: Option<&str>) -> Result<AclPolicy, Vec<String>> {
        AclPolicy::from_lookup(|name| {
            assert_eq!(name, "ROOMGATE_ALLOWED_COUNTRIES");
            value.map(str::to_owned)
        })
    }

    fn countries(codes: &[&str]) -> AclPolicy {
        AclPolicy {
            allowed_countries: Some(codes.iter().map(|&c| c.to_owned()).collect()),
        }
    }

    #[test]
    fn policy_unset_or_blank_allows_any_country() {
        for value in [None, Some(""), Some("  \t ")] {
            assert_eq!(policy(value), Ok(AclPolicy::default()), "{value:?}");
        }
        assert_eq!(AclPolicy::default().allowed_countries, None);
    }

    #[test]
    fn policy_accepts_any_case_and_separators() {
        let expected = Ok(countries(&["CA", "GB", "US"]));
        for value in [
            "US,CA,GB",
            "us, ca, gb",
            "Us Ca gB",
            " US,  CA\tGB ",
            "US,,CA , GB,",
            "gb us ca us",
        ] {
            assert_eq!(policy(Some(value)), expected, "{value:?}");
        }
        assert_eq!(policy(Some("ie")), Ok(countries(&["IE"])));
    }

    #[test]
    fn policy_reports_each_bad_code_on_its_own_line() {
        assert_eq!(
            policy(Some("GBR")),
            Err(vec![
                r#"ROOMGATE_ALLOWED_COUNTRIES: "GBR" is not a country's ISO 3166 alpha-2 code"#
                    .to_owned()
            ])
        );
        // Two letters, but no country's: every number of the country meant would be
        // refused.
        assert_eq!(
            policy(Some("US,UK,ZZ")),
            Err(vec![
                r#"ROOMGATE_ALLOWED_COUNTRIES: "UK" is not a country's ISO 3166 alpha-2 code (the United Kingdom is GB)"#.to_owned(),
                r#"ROOMGATE_ALLOWED_COUNTRIES: "ZZ" is not a country's ISO 3166 alpha-2 code"#.to_owned(),
            ])
        );
        assert_eq!(
            policy(Some("us, U, 44;gb, CA, É1, ÜS")),
            Err([r#""U""#, r#""44;gb""#, r#""É1""#, r#""ÜS""#]
                .iter()
                .map(|code| {
                    format!("ROOMGATE_ALLOWED_COUNTRIES: {code} is not a country's ISO 3166 alpha-2 code")
                })
                .collect())
        );
    }

    #[test]
    fn policy_of_only_separators_is_an_error_not_any_country() {
        assert_eq!(
            policy(Some(" , ,")),
            Err(vec![
                r#"ROOMGATE_ALLOWED_COUNTRIES: " , ," names no country (leave it unset to allow any)"#
                    .to_owned()
            ])
        );
    }

    #[test]
    fn policy_allows_by_region() {
        let us = PhoneNumber::parse("+14155550101").unwrap();
        let gb = PhoneNumber::parse("+447400123456").unwrap();
        let freephone = PhoneNumber::parse("+80012345678").unwrap();
        assert_eq!(freephone.region(), None);

        let any = AclPolicy::default();
        assert!(any.allows(&us) && any.allows(&gb) && any.allows(&freephone));

        let us_ca = policy(Some("us ca")).unwrap();
        assert!(us_ca.allows(&us));
        assert!(!us_ca.allows(&gb));
        assert!(!us_ca.allows(&freephone));

        // Built by hand, lower case still matches; an empty list allows nothing.
        assert!(countries(&["gb"]).allows(&gb));
        assert!(!countries(&[]).allows(&us));
    }

    #[test]
    fn load_and_check_apply_the_policy() {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/acl.example.toml"));
        let gb_only = countries(&["GB"]);
        let errors = Acl::load_with(path, &gb_only).unwrap_err();
        assert!(!errors.0.is_empty());
        for error in &errors.0 {
            assert!(error.path.ends_with(".phone"), "{error}");
            assert!(
                error
                    .message
                    .contains("which is not in ROOMGATE_ALLOWED_COUNTRIES (GB)"),
                "{error}"
            );
        }
        assert_eq!(check_file_with(path, &gb_only), Err(errors));
        assert!(Acl::load_with(path, &AclPolicy::default()).is_ok());
        assert_eq!(
            check_file_with(path, &AclPolicy::default()).unwrap(),
            "3 users, 3 rooms, any room for 1 user"
        );
        assert_eq!(
            Acl::parse_with("acl.toml", SAMPLE, &countries(&["US", "GB", "AU"])),
            Acl::parse("acl.toml", SAMPLE)
        );
    }

    #[test]
    fn refused_entry_reads_like_any_other_acl_error() {
        let errors =
            Acl::parse_with("acl.toml", SAMPLE, &countries(&["US", "CA", "AU"])).unwrap_err();
        assert_eq!(
            errors.to_string(),
            "acl.toml:7:9: users.bob.phone: +44********56 is in GB, \
             which is not in ROOMGATE_ALLOWED_COUNTRIES (AU, CA, US)"
        );
    }
}
