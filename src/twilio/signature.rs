//! Checking that a webhook really comes from Twilio: the `X-Twilio-Signature` header.
//!
//! Twilio signs each request with HMAC-SHA1 keyed with the account's Auth Token, over
//! the full URL it called (scheme, host, path, query) followed by every POST parameter,
//! sorted, each name immediately followed by its value, and sends the digest in base64.
//! This is what `RequestValidator` does in Twilio's helper libraries; where they
//! disagree, twilio-python is the reference (see [`SignatureValidator::sign`]).
//!
//! The URL must be the one Twilio was given (the public URL), not the one the request
//! arrived on behind a proxy: a rewritten scheme, host or path fails validation.

use std::fmt;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// The header Twilio puts the signature in.
pub const HEADER: &str = "X-Twilio-Signature";

type HmacSha1 = Hmac<Sha1>;

/// Validates (and, for tests and integrators, produces) Twilio webhook signatures for
/// one account's Auth Token.
#[derive(Clone)]
pub struct SignatureValidator {
    auth_token: SecretString,
}

impl fmt::Debug for SignatureValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignatureValidator")
            .field("auth_token", &"[REDACTED]")
            .finish()
    }
}

impl SignatureValidator {
    pub fn new(auth_token: SecretString) -> Self {
        Self { auth_token }
    }

    /// The signature Twilio would send for a POST of `params` to exactly `url`.
    ///
    /// Parameters are ordered by name and, within one name, by value, with every pair
    /// kept (duplicates included): that is twilio-python's `compute_signature`, which
    /// sorts the names and then `sorted(values)` of each. Ordering by name alone would
    /// make the result depend on the order the form arrived in, which Twilio doesn't
    /// promise to keep. Strings compare by code point in Python and by UTF-8 bytes
    /// here, which is the same order.
    pub fn sign(&self, url: &str, params: &[(String, String)]) -> String {
        let suffix = params_suffix(params);
        base64::engine::general_purpose::STANDARD.encode(self.digest(url, &suffix))
    }

    /// Whether `signature` (the `X-Twilio-Signature` value) signs a POST of `params`
    /// to `url`. `params` must be every form parameter received, not just the ones the
    /// handler reads: Twilio adds parameters without notice, and each is signed.
    ///
    /// Twilio is inconsistent about default ports: the same webhook may be signed over
    /// `https://host/…` or `https://host:443/…`. Both spellings are tried (`:443` for
    /// https, `:80` for http), as the helper libraries do. A non-default port is part
    /// of the URL and is never dropped: unlike twilio-python, which strips any port,
    /// a signature for `https://host/` does not pass at `https://host:8443/`.
    pub fn is_valid(&self, url: &str, params: &[(String, String)], signature: &str) -> bool {
        // An HMAC-SHA1 in base64 is never empty; bail out before doing any work.
        if signature.is_empty() {
            return false;
        }
        let suffix = params_suffix(params);
        let given = signature.as_bytes();
        let mut valid = subtle::Choice::from(0);
        for candidate in port_variants(url) {
            let expected =
                base64::engine::general_purpose::STANDARD.encode(self.digest(&candidate, &suffix));
            // Constant time, so response timing can't be used to build a signature one
            // byte at a time. The lengths are public (every valid signature has 28
            // characters), which is all `ct_eq` lets slip.
            valid |= expected.as_bytes().ct_eq(given);
        }
        valid.into()
    }

    fn digest(&self, url: &str, params_suffix: &[u8]) -> [u8; 20] {
        // HMAC takes keys of any length, so this can't fail.
        let mut mac = HmacSha1::new_from_slice(self.auth_token.expose_secret().as_bytes())
            .expect("HMAC accepts any key length");
        mac.update(url.as_bytes());
        mac.update(params_suffix);
        mac.finalize().into_bytes().into()
    }
}

/// `name1value1name2value2…`, in the order described at [`SignatureValidator::sign`].
fn params_suffix(params: &[(String, String)]) -> Vec<u8> {
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    sorted.sort_unstable();
    let mut suffix = Vec::with_capacity(sorted.iter().map(|(n, v)| n.len() + v.len()).sum());
    for (name, value) in sorted {
        suffix.extend_from_slice(name.as_bytes());
        suffix.extend_from_slice(value.as_bytes());
    }
    suffix
}

/// `url` as given, plus the same URL with the default port added (if it has no port)
/// or removed (if it names the default port). Other URLs are tried only as given.
///
/// The URL is edited as a string rather than through a URL parser, because parsers
/// normalise (drop default ports, re-encode the path and query) and the signature is
/// over Twilio's exact bytes.
fn port_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    let Some(scheme_end) = url.find("://") else {
        return variants;
    };
    let default_port = match &url[..scheme_end] {
        s if s.eq_ignore_ascii_case("https") => "443",
        s if s.eq_ignore_ascii_case("http") => "80",
        _ => return variants,
    };
    let authority_start = scheme_end + 3;
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| authority_start + i);
    let authority = &url[authority_start..authority_end];
    // The host starts after any userinfo; an IPv6 literal's colons are inside brackets.
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let host_port = &authority[host_start..];
    let search_from = host_port.rfind(']').unwrap_or(0);
    let port_colon = host_port[search_from..]
        .rfind(':')
        .map(|i| authority_start + host_start + search_from + i);

    match port_colon {
        None => variants.push(format!(
            "{}:{default_port}{}",
            &url[..authority_end],
            &url[authority_end..]
        )),
        Some(colon) if &url[colon + 1..authority_end] == default_port => {
            variants.push(format!("{}{}", &url[..colon], &url[authority_end..]));
        }
        Some(_) => {}
    }
    variants
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn validator(token: &str) -> SignatureValidator {
        SignatureValidator::new(SecretString::from(token))
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|&(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// The worked example of Twilio's security docs (Auth Token `12345`), as quoted
    /// from https://www.twilio.com/docs/usage/security and its successor
    /// https://www.twilio.com/docs/usage/webhooks/webhooks-security. The signature was
    /// recomputed independently (Python's hmac/hashlib) rather than trusted as quoted;
    /// the vectors below come from Twilio's own library tests.
    fn docs_params() -> Vec<(String, String)> {
        pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ])
    }
    const DOCS_SIGNATURE: &str = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";

    /// twilio-python's `tests/unit/test_request_validator.py`: same URL and token,
    /// slightly different parameters, listed out of order.
    fn python_params() -> Vec<(String, String)> {
        pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
            ("Caller", "+14158675309"),
        ])
    }

    #[test]
    fn twilios_documented_example_signs_and_validates() {
        let v = validator("12345");
        assert_eq!(v.sign(URL, &docs_params()), DOCS_SIGNATURE);
        assert!(v.is_valid(URL, &docs_params(), DOCS_SIGNATURE));
    }

    #[test]
    fn twilio_python_vectors() {
        let v = validator("12345");
        assert_eq!(
            v.sign(URL, &python_params()),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        // test_validation_adds_port_on_https: Twilio signed with ":443".
        assert!(v.is_valid(URL, &python_params(), "kvajT1Ptam85bY51eRf/AJRuM3w="));
        // test_validation_adds_port_on_http: Twilio signed with ":80".
        assert!(v.is_valid(
            &URL.replace("https", "http"),
            &python_params(),
            "0ZXoZLH/DfblKGATFgpif+LLRf4="
        ));
    }

    #[test]
    fn repeated_names_keep_every_pair_sorted_by_value() {
        // test_compute_signature_duplicate_multi_dict in twilio-python: the two
        // `Digits` arrive as 5678 then 1234 and are signed as 1234 then 5678.
        let v = validator("12345");
        let params = pairs(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
        ]);
        assert_eq!(v.sign(URL, &params), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");

        let mut reordered = params.clone();
        reordered.reverse();
        assert!(v.is_valid(URL, &reordered, "IK+Dwps556ElfBT0I3Rgjkr1wJU="));

        // Dropping one of the duplicates changes what was signed.
        let deduplicated = pairs(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "1234"),
        ]);
        assert!(!v.is_valid(URL, &deduplicated, "IK+Dwps556ElfBT0I3Rgjkr1wJU="));
    }

    #[test]
    fn parameter_order_does_not_matter() {
        let v = validator("12345");
        let mut shuffled = docs_params();
        shuffled.rotate_left(2);
        assert!(v.is_valid(URL, &shuffled, DOCS_SIGNATURE));
    }

    #[test]
    fn wrong_token_is_refused() {
        assert!(!validator("12346").is_valid(URL, &docs_params(), DOCS_SIGNATURE));
        assert!(!validator("").is_valid(URL, &docs_params(), DOCS_SIGNATURE));
    }

    #[test]
    fn tampered_added_or_missing_params_are_refused() {
        let v = validator("12345");

        let mut tampered = docs_params();
        tampered[2].1 = "9999".to_owned();
        assert!(!v.is_valid(URL, &tampered, DOCS_SIGNATURE));

        let mut added = docs_params();
        added.push(("Extra".to_owned(), "1".to_owned()));
        assert!(!v.is_valid(URL, &added, DOCS_SIGNATURE));

        // An added parameter with an empty value still adds its name.
        let mut empty_value = docs_params();
        empty_value.push(("Extra".to_owned(), String::new()));
        assert!(!v.is_valid(URL, &empty_value, DOCS_SIGNATURE));

        let mut missing = docs_params();
        missing.pop();
        assert!(!v.is_valid(URL, &missing, DOCS_SIGNATURE));

        assert!(!v.is_valid(URL, &[], DOCS_SIGNATURE));
    }

    #[test]
    fn name_value_boundary_shifts_are_not_distinguished() {
        // No separators means "Digits"+"1234" equals "Digit"+"s1234": that is Twilio's
        // scheme, and the validator must reproduce it, not "fix" it.
        let v = validator("12345");
        let mut shifted = docs_params();
        shifted[2] = ("Digit".to_owned(), "s1234".to_owned());
        assert!(v.is_valid(URL, &shifted, DOCS_SIGNATURE));
    }

    #[test]
    fn missing_truncated_or_garbled_signature_is_refused() {
        let v = validator("12345");
        for bad in [
            "",
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ",
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ==",
            "0/kctr6dlpkmkaf8muzzqo1ndgq=",
            " 0/KCTR6DLpKmkAf8muzZqo1nDgQ=",
            "not base64 at all",
        ] {
            assert!(!v.is_valid(URL, &docs_params(), bad), "{bad:?}");
        }
    }

    #[test]
    fn default_port_may_be_present_or_absent_on_either_side() {
        let v = validator("12345");
        let with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2";
        let signed_with_port = v.sign(with_port, &docs_params());
        assert_ne!(signed_with_port, DOCS_SIGNATURE);

        // Signed without the port, request URL spelled with it, and the other way round.
        assert!(v.is_valid(with_port, &docs_params(), DOCS_SIGNATURE));
        assert!(v.is_valid(URL, &docs_params(), &signed_with_port));
        assert!(v.is_valid(with_port, &docs_params(), &signed_with_port));

        let http = "http://mycompany.com/myapp.php?foo=1&bar=2";
        let http_80 = "http://mycompany.com:80/myapp.php?foo=1&bar=2";
        assert!(v.is_valid(http_80, &docs_params(), &v.sign(http, &docs_params())));
        assert!(v.is_valid(http, &docs_params(), &v.sign(http_80, &docs_params())));
    }

    #[test]
    fn only_the_default_port_of_the_scheme_is_interchangeable() {
        let v = validator("12345");
        // :80 is not https's default, nor :443 http's.
        let https_80 = "https://mycompany.com:80/myapp.php?foo=1&bar=2";
        assert!(!v.is_valid(https_80, &docs_params(), DOCS_SIGNATURE));
        let http = "http://mycompany.com/myapp.php?foo=1&bar=2";
        let http_443 = "http://mycompany.com:443/myapp.php?foo=1&bar=2";
        assert!(!v.is_valid(http_443, &docs_params(), &v.sign(http, &docs_params())));
        // Nor is any other port dropped.
        let https_8443 = "https://mycompany.com:8443/myapp.php?foo=1&bar=2";
        assert!(!v.is_valid(https_8443, &docs_params(), DOCS_SIGNATURE));
        assert!(v.is_valid(
            https_8443,
            &docs_params(),
            &v.sign(https_8443, &docs_params())
        ));
    }

    #[test]
    fn other_scheme_host_path_or_query_is_refused() {
        let v = validator("12345");
        for other in [
            "https://mycompany.com/otherapp.php?foo=1&bar=2",
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            "https://mycompany.com/myapp.php?bar=2&foo=1",
            "https://mycompany.com/myapp.php",
            "https://mycompany.com/myapp.php/?foo=1&bar=2",
            "http://mycompany.com/myapp.php?foo=1&bar=2",
            "https://evil.example/myapp.php?foo=1&bar=2",
            "https://mycompany.com.evil.example/myapp.php?foo=1&bar=2",
        ] {
            assert!(
                !v.is_valid(other, &docs_params(), DOCS_SIGNATURE),
                "{other}"
            );
        }
    }

    #[test]
    fn port_variants_edit_only_the_authority() {
        let cases: [(&str, &[&str]); 8] = [
            (
                "https://h.example/p?q=a:443",
                &[
                    "https://h.example/p?q=a:443",
                    "https://h.example:443/p?q=a:443",
                ],
            ),
            (
                "https://h.example:443/p",
                &["https://h.example:443/p", "https://h.example/p"],
            ),
            (
                "HTTP://h.example",
                &["HTTP://h.example", "HTTP://h.example:80"],
            ),
            (
                "https://u:pw@h.example?x=1",
                &[
                    "https://u:pw@h.example?x=1",
                    "https://u:pw@h.example:443?x=1",
                ],
            ),
            (
                "https://[2001:db8::1]:443/p",
                &["https://[2001:db8::1]:443/p", "https://[2001:db8::1]/p"],
            ),
            (
                "https://[2001:db8::1]/p",
                &["https://[2001:db8::1]/p", "https://[2001:db8::1]:443/p"],
            ),
            ("https://h.example:8443/p", &["https://h.example:8443/p"]),
            ("wss://h.example/p", &["wss://h.example/p"]),
        ];
        for (url, expected) in cases {
            assert_eq!(port_variants(url), expected.to_vec(), "{url}");
        }
        assert_eq!(port_variants("not a url"), ["not a url"]);
    }

    #[test]
    fn non_ascii_values_are_signed_as_utf8() {
        let v = validator("12345");
        let params = pairs(&[("Body", "héllo ✓"), ("From", "+14155550101")]);
        let signature = v.sign(URL, &params);
        assert!(v.is_valid(URL, &params, &signature));
        let ascii = pairs(&[("Body", "hello ✓"), ("From", "+14155550101")]);
        assert!(!v.is_valid(URL, &ascii, &signature));
    }

    #[test]
    fn debug_redacts_the_token() {
        let shown = format!("{:?}", validator("super-secret-auth-token"));
        assert!(!shown.contains("super-secret-auth-token"), "{shown}");
        assert!(shown.contains("[REDACTED]"), "{shown}");
    }
}
