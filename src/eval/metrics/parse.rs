//! Model output -> answer, by the rules of the authors' evaluation script (scripts/eval.py in
//! JunkFood436/RecFound; DESIGN.md §7). `None` means "unparseable", which the metrics score as
//! wrong. Comparisons are case-sensitive for letters, as the script's are.

/// How an option letter is read from an output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LetterRule {
    /// The whitespace-stripped output must be exactly one letter (the script's SR rule).
    Exact,
    /// The first character of the stripped output (the script's SA/PRP rule, so that
    /// "A: very positive" reads as A; offered for SR as a lenient mode, labelled as such).
    FirstChar,
}

/// The option letter of `output` among `n_options` options (A, B, ...), or `None`.
pub fn parse_option_letter(output: &str, n_options: usize, rule: LetterRule) -> Option<char> {
    let stripped = output.trim();
    let mut chars = stripped.chars();
    let first = chars.next()?;
    if rule == LetterRule::Exact && chars.next().is_some() {
        return None;
    }
    is_option(first, n_options).then_some(first)
}

/// The option letter of a reference answer: its first character ("A: very positive" -> A),
/// which must be one of the options.
pub fn parse_label_letter(label: &str, n_options: usize) -> Option<char> {
    label.trim().chars().next().filter(|&c| is_option(c, n_options))
}

/// `Some(true)` for "yes", `Some(false)` for "no" (lower-cased and stripped, nothing else
/// around them), else `None`.
pub fn parse_yes_no(output: &str) -> Option<bool> {
    match output.trim().to_lowercase().as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

/// A reference "yes"/"no" (the same rule as [`parse_yes_no`]).
pub fn parse_label_yes_no(label: &str) -> Option<bool> {
    parse_yes_no(label)
}

/// `c` is one of the first `n_options` upper-case letters.
fn is_option(c: char, n_options: usize) -> bool {
    c.is_ascii_uppercase() && ((c as u8 - b'A') as usize) < n_options
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_char_reads_the_letter_before_the_option_text() {
        assert_eq!(parse_option_letter("A: very positive", 5, LetterRule::FirstChar), Some('A'));
        assert_eq!(parse_option_letter("  C\n", 5, LetterRule::FirstChar), Some('C'));
        // Outside the options, lower case, or empty: unparseable.
        assert_eq!(parse_option_letter("F", 5, LetterRule::FirstChar), None);
        assert_eq!(parse_option_letter("a: very positive", 5, LetterRule::FirstChar), None);
        assert_eq!(parse_option_letter("The answer is A", 5, LetterRule::FirstChar), None);
        assert_eq!(parse_option_letter("   ", 5, LetterRule::FirstChar), None);
    }

    #[test]
    fn exact_wants_one_letter_only() {
        assert_eq!(parse_option_letter(" T ", 20, LetterRule::Exact), Some('T'));
        assert_eq!(parse_option_letter("T.", 20, LetterRule::Exact), None);
        assert_eq!(parse_option_letter("A: item", 20, LetterRule::Exact), None);
        assert_eq!(parse_option_letter("U", 20, LetterRule::Exact), None);
    }

    #[test]
    fn labels_and_yes_no() {
        assert_eq!(parse_label_letter("B: somewhat relevant", 5), Some('B'));
        assert_eq!(parse_label_letter("", 5), None);
        assert_eq!(parse_yes_no(" Yes\n"), Some(true));
        assert_eq!(parse_yes_no("NO"), Some(false));
        assert_eq!(parse_yes_no("yes."), None);
        assert_eq!(parse_yes_no("yes, it is"), None);
        assert_eq!(parse_label_yes_no("no"), Some(false));
    }
}
