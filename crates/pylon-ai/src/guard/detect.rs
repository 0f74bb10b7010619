//! Sensitive-data detectors: regular expressions for candidates, then the
//! checks that keep false positives down (Luhn for cards, mod-97 for IBANs,
//! SSN/NINO/INSEE rules, address parsing for IPs, digit counts for phones).

use std::sync::OnceLock;

use regex::Regex;

/// A detector's findings: byte ranges in the text.
pub type Spans = Vec<(usize, usize)>;

fn re(cell: &'static OnceLock<Option<Regex>>, pattern: &str) -> Option<&'static Regex> {
    cell.get_or_init(|| Regex::new(pattern).ok()).as_ref()
}

fn matches(r: Option<&Regex>, text: &str, keep: impl Fn(&str) -> bool) -> Spans {
    let Some(r) = r else { return Vec::new() };
    r.find_iter(text)
        .filter(|m| keep(m.as_str()))
        .map(|m| (m.start(), m.end()))
        .collect()
}

fn digits(s: &str) -> Vec<u32> {
    s.chars().filter_map(|c| c.to_digit(10)).collect()
}

/// Luhn checksum over the digits of `s`.
pub fn luhn(s: &str) -> bool {
    let d = digits(s);
    if !(13..=19).contains(&d.len()) {
        return false;
    }
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            if i % 2 == 1 {
                if x * 2 > 9 { x * 2 - 9 } else { x * 2 }
            } else {
                x
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// ISO 13616 IBAN check: length 15–34, mod 97 of the rearranged number is 1.
pub fn iban_ok(s: &str) -> bool {
    let c: Vec<char> = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !(15..=34).contains(&c.len()) {
        return false;
    }
    let rearranged = c[4..].iter().chain(c[..4].iter());
    let mut rem: u32 = 0;
    for ch in rearranged {
        let v = match ch.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        for digit in v.to_string().chars().filter_map(|d| d.to_digit(10)) {
            rem = (rem * 10 + digit) % 97;
        }
    }
    rem == 1
}

fn ssn_ok(s: &str) -> bool {
    let d = digits(s);
    if d.len() != 9 {
        return false;
    }
    let area = d[0] * 100 + d[1] * 10 + d[2];
    let group = d[3] * 10 + d[4];
    let serial = d[5] * 1000 + d[6] * 100 + d[7] * 10 + d[8];
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

fn nino_ok(s: &str) -> bool {
    let c: Vec<char> = s.chars().filter(|c| !c.is_whitespace()).collect();
    if c.len() != 9 {
        return false;
    }
    let prefix: String = c[..2].iter().collect();
    !matches!(
        prefix.as_str(),
        "BG" | "GB" | "NK" | "KN" | "TN" | "NT" | "ZZ"
    ) && c[1] != 'O'
}

fn insee_ok(s: &str) -> bool {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.len() != 15 {
        return false;
    }
    // Corsica: 2A → 19, 2B → 18 for the checksum.
    let number = compact[..13].replace("2A", "19").replace("2B", "18");
    let (Ok(n), Ok(key)) = (number.parse::<u64>(), compact[13..].parse::<u64>()) else {
        return false;
    };
    97 - n % 97 == key
}

pub fn email(t: &str) -> Spans {
    static R: OnceLock<Option<Regex>> = OnceLock::new();
    matches(
        re(
            &R,
            r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}",
        ),
        t,
        |_| true,
    )
}

pub fn phone(t: &str) -> Spans {
    static R: OnceLock<Option<Regex>> = OnceLock::new();
    let r = re(
        &R,
        r"(?:\+\d{1,3}[ .\-]?)?(?:\(\d{1,4}\)[ .\-]?)?\d{2,4}(?:[ .\-]\d{2,4}){1,4}|\+\d{8,15}\b",
    );
    static DATE: OnceLock<Option<Regex>> = OnceLock::new();
    let date = re(&DATE, r"^\d{4}[\-.]\d{2}[\-.]\d{2}$");
    matches(r, t, |m| {
        let n = digits(m).len();
        (8..=15).contains(&n) && !luhn(m) && !date.is_some_and(|d| d.is_match(m))
    })
}

pub fn credit_card(t: &str) -> Spans {
    static R: OnceLock<Option<Regex>> = OnceLock::new();
    matches(re(&R, r"\b(?:\d[ \-]?){12,18}\d\b"), t, luhn)
}

pub fn iban(t: &str) -> Spans {
    static R: OnceLock<Option<Regex>> = OnceLock::new();
    matches(
        re(
            &R,
            r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b",
        ),
        t,
        iban_ok,
    )
}

pub fn national_id(t: &str) -> Spans {
    static SSN: OnceLock<Option<Regex>> = OnceLock::new();
    static NINO: OnceLock<Option<Regex>> = OnceLock::new();
    static INSEE: OnceLock<Option<Regex>> = OnceLock::new();
    let mut out = matches(re(&SSN, r"\b\d{3}-\d{2}-\d{4}\b"), t, ssn_ok);
    out.extend(matches(
        re(
            &NINO,
            r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b",
        ),
        t,
        nino_ok,
    ));
    out.extend(matches(
        re(
            &INSEE,
            r"\b[12] ?\d{2} ?(?:0[1-9]|1[0-2]) ?(?:2[AB]|\d{2}) ?\d{3} ?\d{3} ?\d{2}\b",
        ),
        t,
        insee_ok,
    ));
    out
}

pub fn ip_address(t: &str) -> Spans {
    static V4: OnceLock<Option<Regex>> = OnceLock::new();
    static V6: OnceLock<Option<Regex>> = OnceLock::new();
    let mut out = matches(re(&V4, r"\b(?:\d{1,3}\.){3}\d{1,3}\b"), t, |m| {
        m.parse::<std::net::Ipv4Addr>().is_ok()
    });
    out.extend(matches(
        re(&V6, r"(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}"),
        t,
        |m| m.matches(':').count() >= 2 && m.parse::<std::net::Ipv6Addr>().is_ok(),
    ));
    out
}

pub fn secret(t: &str) -> Spans {
    static R: OnceLock<Option<Regex>> = OnceLock::new();
    let r = re(
        &R,
        concat!(
            r"sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{20,}",
            r"|\bAKIA[0-9A-Z]{16}\b",
            r"|\bgh[pousr]_[A-Za-z0-9]{36,}\b",
            r"|\bxox[abprs]-[A-Za-z0-9\-]{10,}",
            r"|\bAIza[0-9A-Za-z_\-]{35}\b",
            r"|\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
            r"|-----BEGIN (?:RSA |EC |OPENSSH |DSA |ENCRYPTED )?PRIVATE KEY-----[\s\S]*?-----END (?:RSA |EC |OPENSSH |DSA |ENCRYPTED )?PRIVATE KEY-----",
            r"|(?i:\b(?:api[_\-]?key|secret|token|password|passwd)\b\s*[:=]\s*)[A-Za-z0-9_\-/+.]{12,}",
        ),
    );
    matches(r, t, |_| true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(f: fn(&str) -> Spans, t: &str) -> Vec<String> {
        f(t).into_iter().map(|(a, b)| t[a..b].to_string()).collect()
    }

    #[test]
    fn cards_need_a_valid_luhn_sum() {
        assert_eq!(
            found(credit_card, "pay with 4111 1111 1111 1111 now"),
            vec!["4111 1111 1111 1111"]
        );
        assert_eq!(
            found(credit_card, "card 5500-0000-0000-0004."),
            vec!["5500-0000-0000-0004"]
        );
        assert!(found(credit_card, "order 4111 1111 1111 1112").is_empty());
        assert!(found(credit_card, "id 1234567890123").is_empty());
    }

    #[test]
    fn ibans_need_a_valid_checksum() {
        assert_eq!(
            found(iban, "to DE89 3704 0044 0532 0130 00 please"),
            vec!["DE89 3704 0044 0532 0130 00"]
        );
        assert_eq!(
            found(iban, "GB82WEST12345698765432"),
            vec!["GB82WEST12345698765432"]
        );
        assert!(found(iban, "DE89 3704 0044 0532 0130 01").is_empty());
    }

    #[test]
    fn national_ids_follow_their_rules() {
        assert_eq!(found(national_id, "ssn 123-45-6789"), vec!["123-45-6789"]);
        assert!(found(national_id, "ssn 000-45-6789 666-12-3456 123-00-6789").is_empty());
        assert_eq!(
            found(national_id, "NINO AB 12 34 56 C"),
            vec!["AB 12 34 56 C"]
        );
        assert!(found(national_id, "GB123456A").is_empty());
        // 1 84 12 76 451 089 + key 46 (97 - 1841276451089 mod 97).
        assert_eq!(
            found(national_id, "insee 1 84 12 76 451 089 46"),
            vec!["1 84 12 76 451 089 46"]
        );
        assert!(found(national_id, "insee 1 84 12 76 451 089 47").is_empty());
    }

    #[test]
    fn emails_phones_ips_and_secrets() {
        assert_eq!(
            found(email, "mail jane.doe+x@mail.example.co.uk!"),
            vec!["jane.doe+x@mail.example.co.uk"]
        );
        assert_eq!(
            found(phone, "call +1 (555) 123-4567 or 06 12 34 56 78"),
            vec!["+1 (555) 123-4567", "06 12 34 56 78"]
        );
        assert!(found(phone, "in 2024 we had 12 cats").is_empty());
        assert_eq!(
            found(ip_address, "from 192.168.1.20 and 2001:db8::8a2e:370:7334"),
            vec!["192.168.1.20", "2001:db8::8a2e:370:7334"]
        );
        assert!(found(ip_address, "version 1.2.3.999").is_empty());
        let s = found(
            secret,
            "key sk-proj-abcdefghijklmnopqrstuv and AKIAIOSFODNN7EXAMPLE and password: hunter2hunter2",
        );
        assert_eq!(s.len(), 3, "{s:?}");
    }
}
