//! The metric names a PromQL expression selects, for holding queries to the catalogue.
//!
//! In: a PromQL expression. Out: the metric names of its vector selectors, in order. A
//! small lexer, not a parser: it skips strings, label matchers, range and subquery
//! brackets, numbers, durations, keywords, aggregation operators, function calls and the
//! label lists of `by`, `without`, `on`, `ignoring`, `group_left` and `group_right`.

/// Words that are never metric names (besides [`LABEL_LISTS`]).
const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
    "inf",
    "nan",
];

/// Words followed by a parenthesised list of label names.
const LABEL_LISTS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

fn skip_string(chars: &[char], mut i: usize) -> usize {
    let quote = chars[i];
    i += 1;
    while i < chars.len() && chars[i] != quote {
        if chars[i] == '\\' && quote != '`' {
            i += 1;
        }
        i += 1;
    }
    i + 1
}

/// Index just past the bracket that closes the one at `i`, skipping strings inside.
fn skip_group(chars: &[char], mut i: usize, close: char) -> usize {
    let open = chars[i];
    let mut depth = 0usize;
    while i < chars.len() {
        match chars[i] {
            '"' | '\'' | '`' => {
                i = skip_string(chars, i);
                continue;
            }
            c if c == open => depth += 1,
            c if c == close => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    i
}

fn next_non_space(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    i
}

/// The metric names selected by `expr`, in order of appearance (repeats kept).
pub fn metric_names(expr: &str) -> Vec<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i = skip_string(&chars, i);
        } else if c == '{' {
            i = skip_group(&chars, i, '}');
        } else if c == '[' {
            i = skip_group(&chars, i, ']');
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = next_non_space(&chars, i);
            let lower = word.to_ascii_lowercase();
            if LABEL_LISTS.contains(&lower.as_str()) {
                if chars.get(next) == Some(&'(') {
                    i = skip_group(&chars, next, ')');
                }
            } else if !KEYWORDS.contains(&lower.as_str()) && chars.get(next) != Some(&'(') {
                names.push(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::metric_names;

    #[test]
    fn selectors_are_found_and_everything_else_is_skipped() {
        let expr = r#"histogram_quantile(0.99, sum by (le, instance) (rate(a_bucket{job="x", le!~"b"}[5m]))) > 1.5e3 and on (instance) max without (pod) (b) or vector(0) unless c offset 5m"#;
        assert_eq!(metric_names(expr), ["a_bucket", "b", "c"]);
    }

    #[test]
    fn strings_with_brackets_and_aggregations_with_clauses_after_the_body() {
        let expr = r#"count(x{a="}{[" , b='\'('}) by (namespace) / sum(y) without (le)"#;
        assert_eq!(metric_names(expr), ["x", "y"]);
    }

    #[test]
    fn a_bare_selector_and_absent_of_a_comparison() {
        assert_eq!(metric_names("up"), ["up"]);
        assert_eq!(metric_names(r#"absent(up{job="k"} == 1)"#), ["up"]);
    }
}
