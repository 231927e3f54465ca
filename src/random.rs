//! Random tokens: session ids, CSRF tokens, sign-in ids; and random keys kept in a
//! file of their own.

use std::io;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

/// 256 random bits, URL-safe.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The time it was made (Unix milliseconds, in hex), then 192 random bits, URL-safe:
/// for ids the store keeps records under. Ids made close together sort together, so a
/// commit of the embedded store's B-tree rewrites the few pages at its end rather than
/// one page per new id (see docs/performance.md). As long as a [`random_token`], so
/// the records under them take no more memory. The time is no secret where these ids
/// go: inside the encrypted session cookie, and the server's own store.
pub fn ordered_token() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!("{ms:011x}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The `len` random bytes kept in `path` (URL-safe base64, mode 0600), made on first
/// use. Two processes starting at once agree on the first one written. `what` names
/// the key in the error for a file that doesn't hold one.
pub fn kept_secret(path: &Path, len: usize, what: &str) -> io::Result<Vec<u8>> {
    let decode = |text: &str| -> io::Result<Vec<u8>> {
        URL_SAFE_NO_PAD
            .decode(text.trim())
            .ok()
            .filter(|b| b.len() == len)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("not a {what}; delete it to make a new one"),
                )
            })
    };
    match std::fs::read_to_string(path) {
        Ok(text) => return decode(&text),
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    let mut bytes = vec![0u8; len];
    rand::rng().fill_bytes(&mut bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            use std::io::Write;
            file.write_all(URL_SAFE_NO_PAD.encode(&bytes).as_bytes())?;
            file.sync_all()?;
            Ok(bytes)
        }
        // Another process made it first: use theirs.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            decode(&std::fs::read_to_string(path)?)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_tokens_sort_by_when_they_were_made_and_stay_unguessable() {
        let first = ordered_token();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let later: Vec<String> = (0..100).map(|_| ordered_token()).collect();
        for token in &later {
            assert!(token > &first, "{token} sorts before {first}");
            // The time, then 192 random bits: as long as a random token.
            assert_eq!(token.len(), random_token().len());
            assert!(u64::from_str_radix(&token[..11], 16).is_ok(), "{token}");
        }
        let mut distinct = later.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), later.len());
    }
}
