//! The injection patterns: deliberately few and specific (a coarse filter
//! against the obvious, not a WAF). Compiled once per process into two
//! `RegexSet`s; a match reports the rule id, never the matched text.

use std::sync::LazyLock;

use regex::RegexSet;

/// SQL injection: `(rule id, regex)`, matched case-insensitively.
pub const SQLI: &[(&str, &str)] = &[
    (
        "union_select",
        r"\bunion(?:\s|/\*[^*]*\*/)+(?:(?:all|distinct)(?:\s|/\*[^*]*\*/)+)?select\b",
    ),
    (
        "quoted_tautology",
        r#"['"]\s*\)?\s*(?:or|and|\|\||&&)\s*\(?\s*['"]?\w+['"]?\s*(?:=|<>|!=|<|>|\blike\b)"#,
    ),
    ("numeric_tautology", r"\b(?:or|and)\s+\d+\s*=\s*\d+\b"),
    ("comment_terminator", r"'\s*\)?\s*(?:--|#|/\*)"),
    (
        "stacked_query",
        r"(?:;|'\s*;)\s*(?:(?:drop|alter|truncate)\s+(?:table|database|schema|view|index|user)\b|delete\s+from\b|insert\s+into\b|update\s+\w+\s+set\b|exec(?:ute)?\s+\w|shutdown\b|declare\s+@)",
    ),
    (
        "time_delay",
        r"\b(?:sleep|pg_sleep|benchmark)\s*\(\s*\d|\bwaitfor\s+delay\s+'",
    ),
    (
        "schema_probe",
        r"\binformation_schema\b|\bpg_catalog\b|\bsysobjects\b|\bmysql\.user\b",
    ),
    (
        "file_access",
        r"\bload_file\s*\(|\binto\s+(?:out|dump)file\b",
    ),
    (
        "command_exec",
        r"\bxp_cmdshell\b|\bexec(?:ute)?\s+master\.\.",
    ),
];

/// Cross-site scripting: `(rule id, regex)`, matched case-insensitively.
pub const XSS: &[(&str, &str)] = &[
    ("script_tag", r"<\s*/?\s*script\b"),
    ("script_uri", r"\b(?:java|vb)script\s*:"),
    ("event_handler", r"<[a-z][^>]*[\s/]on[a-z]+\s*="),
    (
        "dangerous_tag",
        r"<\s*(?:iframe|object|embed|svg|math|base|meta|link|frameset|applet)\b",
    ),
    ("data_html", r"\bdata\s*:\s*text/html"),
    ("srcdoc", r"\bsrcdoc\s*="),
    ("dom_sink", r"\bdocument\s*\.\s*(?:cookie|write|domain)\b"),
];

/// A pattern family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    SqlInjection,
    Xss,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::SqlInjection => "sql_injection",
            Category::Xss => "xss",
        }
    }
}

pub struct Sets {
    sqli: RegexSet,
    xss: RegexSet,
}

fn set(rules: &[(&str, &str)]) -> Result<RegexSet, regex::Error> {
    regex::RegexSetBuilder::new(rules.iter().map(|(_, r)| *r))
        .case_insensitive(true)
        .size_limit(8 << 20)
        .build()
}

static SETS: LazyLock<Result<Sets, regex::Error>> = LazyLock::new(|| {
    Ok(Sets {
        sqli: set(SQLI)?,
        xss: set(XSS)?,
    })
});

/// The compiled sets (an error only if a built-in pattern were broken).
pub fn sets() -> Result<&'static Sets, String> {
    SETS.as_ref().map_err(|e| e.to_string())
}

impl Sets {
    /// The first rule that matches `s`, among the enabled families.
    pub fn find(&self, s: &str, sqli: bool, xss: bool) -> Option<(Category, &'static str)> {
        if sqli
            && self.sqli.is_match(s)
            && let Some(i) = self.sqli.matches(s).iter().next()
        {
            return SQLI.get(i).map(|(id, _)| (Category::SqlInjection, *id));
        }
        if xss
            && self.xss.is_match(s)
            && let Some(i) = self.xss.matches(s).iter().next()
        {
            return XSS.get(i).map(|(id, _)| (Category::Xss, *id));
        }
        None
    }
}
