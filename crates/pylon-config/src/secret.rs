//! Secret references inside config strings: `${ENV_VAR}` takes an environment
//! variable, `${file:/path}` the trimmed content of a file. `$${` escapes a literal `${`.

use serde_json::Value;

use crate::error::ConfigIssue;

/// Replace every secret reference inside the string values of `doc`, in place.
/// Unresolvable references are reported with their path.
pub fn expand(doc: &mut Value, path: &str, issues: &mut Vec<ConfigIssue>) {
    match doc {
        Value::String(s) if s.contains("${") => match expand_str(s) {
            Ok(v) => *s = v,
            Err(reason) => issues.push(ConfigIssue::new(path, reason)),
        },
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                expand(item, &format!("{path}[{i}]"), issues);
            }
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                expand(v, &p, issues);
            }
        }
        _ => {}
    }
}

fn expand_str(input: &str) -> Result<String, String> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find("${") {
        if rest[..pos].ends_with('$') {
            // `$${` is an escaped literal `${`.
            out.push_str(&rest[..pos - 1]);
            out.push_str("${");
            rest = &rest[pos + 2..];
            continue;
        }
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| "unterminated `${` reference".to_string())?;
        let reference = &after[..end];
        out.push_str(&resolve(reference)?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn resolve(reference: &str) -> Result<String, String> {
    if let Some(file) = reference.strip_prefix("file:") {
        return std::fs::read_to_string(file)
            .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
            .map_err(|e| format!("cannot read secret file `{file}`: {e}"));
    }
    let name = reference.strip_prefix("env:").unwrap_or(reference);
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("invalid secret reference `${{{reference}}}`"));
    }
    std::env::var(name).map_err(|_| format!("environment variable `{name}` is not set"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_env_and_files_and_escapes() {
        // PATH is set in every environment tests run in; setting variables would need unsafe.
        let path = std::env::var("PATH").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("k");
        std::fs::write(&f, "from-file\n").unwrap();
        let s = format!(
            "a=${{PATH}} b=${{file:{}}} c=$${{x}} d=${{env:PATH}}",
            f.display()
        );
        assert_eq!(
            expand_str(&s).unwrap(),
            format!("a={path} b=from-file c=${{x}} d={path}")
        );
    }

    #[test]
    fn missing_variable_is_an_issue_with_path() {
        let mut doc =
            serde_json::json!({"upstreams": [{"name": "${PYLON_TEST_DEFINITELY_UNSET}"}]});
        let mut issues = Vec::new();
        expand(&mut doc, "", &mut issues);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].path, "upstreams[0].name");
        assert!(issues[0].reason.contains("PYLON_TEST_DEFINITELY_UNSET"));
    }

    #[test]
    fn unterminated_reference_is_rejected() {
        assert!(expand_str("x ${OOPS").is_err());
        assert!(expand_str("${bad name}").is_err());
    }
}
