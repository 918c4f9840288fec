//! `--set key=value` overrides applied to a parsed TOML table before it is checked, so an
//! override of an unknown key fails exactly like an unknown key in the file.

/// A malformed `--set` argument.
#[derive(Debug, thiserror::Error)]
pub enum SetError {
    #[error("--set `{0}`: expected key=value (e.g. generate.max_new_tokens=32)")]
    Syntax(String),
    #[error("--set `{arg}`: `{key}` is a value, not a table")]
    NotATable { arg: String, key: String },
}

/// Sets the dotted `key` of `table` to `value`, parsed as a TOML value (`32`, `true`,
/// `[1, 2]`, `"text"`), or taken as a plain string when it is not one.
pub fn apply_set(table: &mut toml::Table, arg: &str) -> Result<(), SetError> {
    let (key, value) = arg.split_once('=').ok_or_else(|| SetError::Syntax(arg.to_string()))?;
    let parts: Vec<&str> = key.trim().split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(SetError::Syntax(arg.to_string()));
    }
    let value = value.trim();
    let parsed = format!("v = {value}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    let mut node = table;
    for (i, part) in parts[..parts.len() - 1].iter().enumerate() {
        let entry = node
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        node = entry.as_table_mut().ok_or_else(|| SetError::NotATable {
            arg: arg.to_string(),
            key: parts[..=i].join("."),
        })?;
    }
    node.insert(parts[parts.len() - 1].to_string(), parsed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_nested_typed_values() {
        let mut t: toml::Table = "[generate]\nmax_new_tokens = 8".parse().unwrap();
        apply_set(&mut t, "generate.max_new_tokens=32").unwrap();
        apply_set(&mut t, "generate.prompts=[[1, 2]]").unwrap();
        apply_set(&mut t, "run.name=hello world").unwrap();
        assert_eq!(t["generate"]["max_new_tokens"].as_integer(), Some(32));
        assert_eq!(t["generate"]["prompts"][0][1].as_integer(), Some(2));
        assert_eq!(t["run"]["name"].as_str(), Some("hello world"));
    }

    #[test]
    fn rejects_malformed_arguments() {
        let mut t = toml::Table::new();
        assert!(matches!(apply_set(&mut t, "novalue"), Err(SetError::Syntax(_))));
        apply_set(&mut t, "a=1").unwrap();
        assert!(matches!(apply_set(&mut t, "a.b=2"), Err(SetError::NotATable { .. })));
    }
}
