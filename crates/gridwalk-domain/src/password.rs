//! The password rule: what the server accepts as a worker's password (on `worker add`, a
//! change and a reset). Pure, so the CLI, the API and their tests share one statement of it.
//!
//! Long passphrases beat composition rules, so length carries most of the weight; the other
//! checks refuse only what a guesser tries first: one repeated class, the username, a tiny
//! list of the commonest choices.

/// Fewest characters a password may have.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Most characters a password may have: argon2 hashes anything, but an unbounded body is
/// work for whoever sends it.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Fewest different characters: "aaaaaaaaaaa1" has two classes but no strength.
const MIN_DISTINCT_CHARS: usize = 5;

/// The commonest passwords of twelve or more characters (lower case): refused outright.
const COMMON: &[&str] = &[
    "123456789012",
    "1234567890ab",
    "1q2w3e4r5t6y",
    "abcdefghijkl",
    "abc123456789",
    "qwertyuiop12",
    "qwerty123456",
    "qwertyuiopas",
    "password1234",
    "password123!",
    "passw0rd1234",
    "p@ssw0rd1234",
    "iloveyou1234",
    "changeme1234",
    "welcome12345",
    "admin1234567",
    "administrator",
    "gridwalk1234",
    "woaini123456",
    "woaini1314520",
];

/// Why a password was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordProblem {
    TooShort {
        min: usize,
    },
    TooLong {
        max: usize,
    },
    /// Only lower-case letters, only digits, …: one class of character.
    OneClass,
    TooFewDistinct {
        min: usize,
    },
    /// It is, or contains, the username.
    HasUsername,
    Common,
}

impl std::fmt::Display for PasswordProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PasswordProblem::TooShort { min } => write!(f, "a password needs at least {min} characters"),
            PasswordProblem::TooLong { max } => write!(f, "a password may have at most {max} characters"),
            PasswordProblem::OneClass => {
                write!(f, "a password needs two kinds of character (lower case, upper case, digits, others)")
            }
            PasswordProblem::TooFewDistinct { min } => write!(f, "a password needs at least {min} different characters"),
            PasswordProblem::HasUsername => write!(f, "a password may not contain the username"),
            PasswordProblem::Common => write!(f, "this password is among the commonest ones"),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    Lower,
    Upper,
    Digit,
    Other,
}

fn class(c: char) -> Class {
    if c.is_lowercase() {
        Class::Lower
    } else if c.is_uppercase() {
        Class::Upper
    } else if c.is_ascii_digit() {
        Class::Digit
    } else {
        Class::Other
    }
}

/// Check `password` for the worker `username`.
pub fn check_password(password: &str, username: &str) -> Result<(), PasswordProblem> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_CHARS {
        return Err(PasswordProblem::TooShort { min: MIN_PASSWORD_CHARS });
    }
    if n > MAX_PASSWORD_CHARS {
        return Err(PasswordProblem::TooLong { max: MAX_PASSWORD_CHARS });
    }
    let first = password.chars().next().map(class);
    if password.chars().all(|c| Some(class(c)) == first) {
        return Err(PasswordProblem::OneClass);
    }
    let mut distinct: Vec<char> = password.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < MIN_DISTINCT_CHARS {
        return Err(PasswordProblem::TooFewDistinct { min: MIN_DISTINCT_CHARS });
    }
    let lower = password.to_lowercase();
    let user = username.trim().to_lowercase();
    // A one- or two-letter username is in too many good passwords to refuse them all.
    if user.chars().count() >= 3 && lower.contains(&user) {
        return Err(PasswordProblem::HasUsername);
    }
    if COMMON.contains(&lower.as_str()) {
        return Err(PasswordProblem::Common);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_rule_case_by_case() {
        let cases: &[(&str, &str, Result<(), PasswordProblem>)] = &[
            ("correct horse battery", "wang", Ok(())),
            ("gridwalk-demo", "wang", Ok(())),
            ("xiaoguan-2024", "wang", Ok(())),
            ("短短的密码", "wang", Err(PasswordProblem::TooShort { min: 12 })),
            ("elevenchars", "wang", Err(PasswordProblem::TooShort { min: 12 })),
            ("alllowercaseletters", "wang", Err(PasswordProblem::OneClass)),
            ("12345678901234", "wang", Err(PasswordProblem::OneClass)),
            ("aaaaaaaaaaa1", "wang", Err(PasswordProblem::TooFewDistinct { min: 5 })),
            ("wang-is-my-name", "wang", Err(PasswordProblem::HasUsername)),
            ("WANG-is-my-name", "Wang", Err(PasswordProblem::HasUsername)),
            ("li-is-in-here-2", "li", Ok(())),
            ("Password1234", "wang", Err(PasswordProblem::Common)),
            ("1q2w3e4r5t6y", "wang", Err(PasswordProblem::Common)),
        ];
        for (password, username, want) in cases {
            assert_eq!(&check_password(password, username), want, "{password:?} for {username:?}");
        }
        let long = "ab1".repeat(100);
        assert_eq!(check_password(&long, "wang"), Err(PasswordProblem::TooLong { max: 256 }), "a password is bounded");
    }
}
