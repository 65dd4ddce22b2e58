//! `updateRepoUrl` normalisation (spec 6.5): the slice of WHATWG URL parsing
//! and serialization the TypeScript server got from `new URL(...)` for
//! `http`/`https` URLs, written out so the core needs no URL crate.
//!
//! Covered: scheme and host case, slash and backslash quirks after the
//! scheme, credentials, ports (default ports dropped), dot segments, and
//! percent-encoding of the path. Deliberately refused rather than emulated:
//! non-ASCII or percent-encoded hosts (IDNA), IPv6 literals, and numeric hosts
//! other than plain dotted-quad IPv4. An operator's repository URL does not
//! need them.

/// The normalised URL, or `None` where the field is invalid: not an http(s)
/// URL, or fewer than two non-empty path segments. Query and fragment are
/// dropped, then trailing `/`s, then one trailing `.git` (any case).
pub fn normalize_repo_url(raw: &str) -> Option<String> {
    // The URL parser strips C0 controls and spaces at the ends and drops
    // tabs and newlines anywhere.
    let input: String = raw
        .trim_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let (scheme, rest) = input.split_once(':')?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    // Special schemes ignore any run of slashes or backslashes before the host.
    let rest = rest.trim_start_matches(['/', '\\']);
    let authority_end = rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len());
    let (authority, after) = rest.split_at(authority_end);
    let path = &after[..after.find(['?', '#']).unwrap_or(after.len())];

    let (userinfo, host_port) = match authority.rfind('@') {
        Some(at) => (serialize_userinfo(&authority[..at]), &authority[at + 1..]),
        None => (String::new(), authority),
    };
    let (host, port) = match host_port.rfind(':') {
        Some(colon) => (&host_port[..colon], parse_port(&host_port[colon + 1..], default_port)?),
        None => (host_port, String::new()),
    };
    let host = parse_host(host)?;
    let path = normalize_path(path);
    if path.split('/').filter(|s| !s.is_empty()).count() < 2 {
        return None;
    }

    let url = format!("{scheme}://{userinfo}{host}{port}{path}");
    let url = url.trim_end_matches('/');
    let url = match url.len().checked_sub(4).and_then(|i| url.get(i..).map(|tail| (i, tail))) {
        Some((i, tail)) if tail.eq_ignore_ascii_case(".git") => &url[..i],
        _ => url,
    };
    Some(url.to_owned())
}

/// `user[:password]@`, percent-encoded; empty when both parts are empty.
fn serialize_userinfo(userinfo: &str) -> String {
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    if user.is_empty() && password.is_empty() {
        return String::new();
    }
    let mut out = percent_encode(user, in_userinfo_set);
    if !password.is_empty() {
        out.push(':');
        out.push_str(&percent_encode(password, in_userinfo_set));
    }
    out.push('@');
    out
}

/// `:port` for a non-default port, empty for none or the default; `None`
/// for a port that is not digits or exceeds 65535.
fn parse_port(port: &str, default_port: u32) -> Option<String> {
    if port.is_empty() {
        return Some(String::new());
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = port.trim_start_matches('0');
    let value: u32 = if digits.is_empty() { 0 } else { digits.parse().ok()? };
    match value {
        v if v > 65_535 => None,
        v if v == default_port => Some(String::new()),
        v => Some(format!(":{v}")),
    }
}

/// A lowercased ASCII domain, or a canonical dotted-quad IPv4 address.
fn parse_host(host: &str) -> Option<String> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_');
    if host.is_empty() || !host.bytes().all(allowed) {
        return None;
    }
    let host = host.to_ascii_lowercase();
    // A host whose last label looks numeric goes through the IPv4 parser,
    // which also accepts forms like `0x7f.1`; only the canonical form is kept.
    let last = host.trim_end_matches('.').rsplit('.').next().unwrap_or("");
    let numeric = !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit());
    if numeric || last.starts_with("0x") {
        let octets: Vec<&str> = host.split('.').collect();
        let canonical = |o: &&str| {
            !o.is_empty() && (o == &"0" || !o.starts_with('0')) && o.parse::<u8>().is_ok()
        };
        if octets.len() != 4 || !octets.iter().all(canonical) {
            return None;
        }
    }
    Some(host)
}

/// `/`-separated segments with `\` read as `/`, dot segments resolved, and
/// characters outside the URL code points percent-encoded.
fn normalize_path(raw: &str) -> String {
    let raw = raw.replace('\\', "/");
    let raw = raw.strip_prefix('/').unwrap_or(&raw);
    let parts: Vec<&str> = raw.split('/').collect();
    let mut out: Vec<String> = Vec::new();
    for (i, segment) in parts.iter().enumerate() {
        let is_last = i + 1 == parts.len();
        let lower = segment.to_ascii_lowercase();
        match lower.as_str() {
            ".." | ".%2e" | "%2e." | "%2e%2e" => {
                out.pop();
                if is_last {
                    out.push(String::new());
                }
            }
            "." | "%2e" => {
                if is_last {
                    out.push(String::new());
                }
            }
            _ => out.push(percent_encode(segment, in_path_set)),
        }
    }
    format!("/{}", out.join("/"))
}

fn percent_encode(s: &str, in_set: fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if in_set(b) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
        }
    }
    out
}

/// WHATWG path percent-encode set (C0 controls, non-ASCII, space, `"#<>?^`{}`).
fn in_path_set(b: u8) -> bool {
    !(0x20..=0x7E).contains(&b)
        || matches!(b, b' ' | b'"' | b'#' | b'<' | b'>' | b'?' | b'^' | b'`' | b'{' | b'}')
}

/// WHATWG userinfo percent-encode set: the path set plus `/:;=@[\]|`.
fn in_userinfo_set(b: u8) -> bool {
    in_path_set(b) || matches!(b, b'/' | b':' | b';' | b'=' | b'@' | b'[' | b'\\' | b']' | b'|')
}

#[cfg(test)]
mod tests {
    use super::normalize_repo_url;

    #[test]
    fn normalisation_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("https://github.com/owner/repo", Some("https://github.com/owner/repo")),
            ("http://github.com/owner/repo", Some("http://github.com/owner/repo")),
            ("https://github.com/owner/repo/", Some("https://github.com/owner/repo")),
            ("https://github.com/owner/repo///", Some("https://github.com/owner/repo")),
            ("https://github.com/owner/repo.git", Some("https://github.com/owner/repo")),
            ("https://github.com/owner/repo.GIT/", Some("https://github.com/owner/repo")),
            ("https://github.com/owner/repo.git.git", Some("https://github.com/owner/repo.git")),
            ("https://github.com/owner/repo?tab=readme#top", Some("https://github.com/owner/repo")),
            ("https://github.com/owner/repo.git?x=1", Some("https://github.com/owner/repo")),
            ("HTTPS://GitHub.COM/Owner/Repo", Some("https://github.com/Owner/Repo")),
            ("https://github.com:443/o/r", Some("https://github.com/o/r")),
            ("http://github.com:80/o/r", Some("http://github.com/o/r")),
            (
                "https://gitlab.example:8443/group/sub/repo",
                Some("https://gitlab.example:8443/group/sub/repo"),
            ),
            ("https://github.com:/o/r", Some("https://github.com/o/r")),
            ("https://github.com:0443/o/r", Some("https://github.com/o/r")),
            ("https://user:pw@github.com/o/r", Some("https://user:pw@github.com/o/r")),
            ("https://@github.com/o/r", Some("https://github.com/o/r")),
            ("https://user:@github.com/o/r", Some("https://user@github.com/o/r")),
            ("https:github.com/o/r", Some("https://github.com/o/r")),
            ("https:\\\\github.com\\o\\r", Some("https://github.com/o/r")),
            ("https:///github.com/o/r", Some("https://github.com/o/r")),
            ("https://github.com/o/./r", Some("https://github.com/o/r")),
            ("https://github.com/o/x/../r", Some("https://github.com/o/r")),
            ("https://github.com/o/my repo", Some("https://github.com/o/my%20repo")),
            ("https://github.com/o/ré", Some("https://github.com/o/r%C3%A9")),
            ("https://github.com/o/r%20x", Some("https://github.com/o/r%20x")),
            ("https://git\thub.com/o/r", Some("https://github.com/o/r")),
            ("https://192.168.1.10/o/r", Some("https://192.168.1.10/o/r")),
            ("https://github.com/o/r/.git", Some("https://github.com/o/r/")),
            // invalid
            ("github.com/owner/repo", None),
            ("ftp://github.com/owner/repo", None),
            ("git@github.com:owner/repo.git", None),
            ("ssh://git@github.com/owner/repo", None),
            ("https://github.com/owner", None),
            ("https://github.com/owner/", None),
            ("https://github.com//owner", None),
            ("https://github.com", None),
            ("https://github.com/o/x/../../r", None),
            ("https:///", None),
            ("https://:443/o/r", None),
            ("https://github.com:99999/o/r", None),
            ("https://github.com:x/o/r", None),
            ("https://gith ub.com/o/r", None),
            ("https://[::1]/o/r", None),
            ("https://bücher.example/o/r", None),
            ("https://0x7f.1/o/r", None),
            ("https://1.2.3.256/o/r", None),
            ("https://999/o/r", None),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_repo_url(input).as_deref(), *want, "{input:?}");
        }
    }
}
