//! What may be shown to the public: [`scrub`] hides the numbers people type into an issue's text
//! (mobile and landline phones, resident ID numbers, any long run of digits) before the text
//! leaves the district's own systems (the anonymous Open311 listing).
//!
//! The rule is deliberately coarse: a run of digits, where single separators (space, dash,
//! dot, slash, brackets) between digits do not break the run, is hidden when it holds 9 or
//! more digits (mobiles with or without +86, landlines with their area code, 15- and 18-digit
//! ID numbers, bank cards, order numbers), or exactly 8 (a Beijing local number) unless those 8
//! read as a date (20261201). A run that starts with a date (2026-12-01, 2026/12/1, 2026.12.01)
//! keeps the date and the rest is judged on its own, so "2026-12-01 08:30" survives. An
//! 18-digit ID's final X goes with it. Full-width digits (０-９) count as digits. Hiding too
//! much is acceptable; showing a phone number is not. Pure: no IO.

/// What a hidden number is replaced with.
pub const MASK: &str = "［已隐去］";

/// The fewest digits in a run that is always hidden.
pub const LONG_RUN_DIGITS: usize = 9;

/// The digit a char stands for (ASCII or full-width).
fn digit(c: char) -> Option<u8> {
    match c {
        '0'..='9' => Some(c as u8 - b'0'),
        '０'..='９' => Some((c as u32 - '０' as u32) as u8),
        _ => None,
    }
}

fn separator(c: char) -> bool {
    matches!(c, ' ' | '\u{3000}' | '-' | '－' | '‐' | '—' | '–' | '.' | '．' | '/' | '(' | ')' | '（' | '）' | '·')
}

fn opener(c: char) -> bool {
    matches!(c, '+' | '＋' | '(' | '（')
}

/// Whether digit groups `y`, `m`, `d` read as a date (year 1900–2099).
fn is_date(y: &[u8], m: &[u8], d: &[u8]) -> bool {
    let num = |g: &[u8]| g.iter().fold(0u32, |n, &x| n * 10 + u32::from(x));
    y.len() == 4
        && (1..=2).contains(&m.len())
        && (1..=2).contains(&d.len())
        && (1900..=2099).contains(&num(y))
        && (1..=12).contains(&num(m))
        && (1..=31).contains(&num(d))
}

/// One run found at `chars[start..end]`: its digit groups and where each group ends.
struct Run {
    end: usize,
    groups: Vec<(Vec<u8>, usize)>,
}

/// The run of digits starting at `start` (a digit, or an opener right before one).
fn run_at(chars: &[char], start: usize) -> Run {
    let mut i = start;
    while i < chars.len() && digit(chars[i]).is_none() {
        i += 1; // the opener
    }
    let mut groups: Vec<(Vec<u8>, usize)> = Vec::new();
    let mut current = Vec::new();
    let mut end = i;
    while i < chars.len() {
        if let Some(d) = digit(chars[i]) {
            current.push(d);
            i += 1;
            end = i;
            continue;
        }
        // Up to two separators in a row, when a digit follows them, keep the run going.
        let seps = chars[i..].iter().take(2).take_while(|&&c| separator(c)).count();
        if seps > 0 && chars.get(i + seps).and_then(|&c| digit(c)).is_some() {
            groups.push((std::mem::take(&mut current), end));
            i += seps;
            continue;
        }
        break;
    }
    groups.push((current, end));
    Run { end, groups }
}

/// Whether a run's digits must be hidden.
fn hide(groups: &[(Vec<u8>, usize)], x_follows: bool) -> bool {
    let digits: Vec<u8> = groups.iter().flat_map(|g| g.0.iter().copied()).collect();
    match digits.len() {
        17 if x_follows => true,
        n if n >= LONG_RUN_DIGITS => true,
        8 => !(groups.len() == 1 && is_date(&digits[..4], &digits[4..6], &digits[6..])),
        _ => false,
    }
}

/// The text with every phone number, ID number and long digit run replaced by [`MASK`].
pub fn scrub(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let starts = digit(c).is_some() || (opener(c) && chars.get(i + 1).and_then(|&n| digit(n)).is_some());
        if !starts {
            out.push(c);
            i += 1;
            continue;
        }
        let run = run_at(&chars, i);
        // A leading date is kept and what follows it is judged as a run of its own.
        if run.groups.len() >= 3 && is_date(&run.groups[0].0, &run.groups[1].0, &run.groups[2].0) && digit(c).is_some() {
            let date_end = run.groups[2].1;
            out.extend(&chars[i..date_end]);
            i = date_end;
            continue;
        }
        let x_follows = chars.get(run.end).is_some_and(|&n| matches!(n, 'X' | 'x' | 'Ｘ' | 'ｘ'));
        if hide(&run.groups, x_follows) {
            out.push_str(MASK);
            let digits: usize = run.groups.iter().map(|g| g.0.len()).sum();
            i = if x_follows && digits == 17 { run.end + 1 } else { run.end };
        } else {
            out.extend(&chars[i..run.end]);
            i = run.end;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hides_phones_and_id_numbers() {
        let cases: &[(&str, &str, &str)] = &[
            ("电话13812345678", "电话［已隐去］", "a mobile"),
            ("请联系 138 1234 5678 王女士", "请联系 ［已隐去］ 王女士", "a mobile with spaces"),
            ("138-1234-5678", "［已隐去］", "a mobile with dashes"),
            ("+86 13812345678", "［已隐去］", "+86 goes with the mobile"),
            ("+86-138-1234-5678。", "［已隐去］。", "+86 with dashes"),
            ("８６１３９１２３４５６７８", "［已隐去］", "full-width digits"),
            ("手机：１３９ １２３４ ５６７８", "手机：［已隐去］", "full-width with spaces"),
            ("010-12345678", "［已隐去］", "a landline with its area code"),
            ("(010)12345678", "［已隐去］", "area code in brackets"),
            ("（010）12345678", "［已隐去］", "area code in full-width brackets"),
            ("座机65001234转", "座机［已隐去］转", "an 8-digit local number"),
            ("6500 1234", "［已隐去］", "a local number with a space"),
            ("身份证11010519491231002X", "身份证［已隐去］", "an 18-character ID with X"),
            ("110105194912310021号", "［已隐去］号", "an 18-digit ID"),
            ("11010519491231x", "［已隐去］x", "14 digits are a long run (the x is just text)"),
            ("110105491231002", "［已隐去］", "a 15-digit old ID"),
            ("卡号6222020200112233445", "卡号［已隐去］", "a long digit run"),
            ("1 3 8 1 2 3 4 5 6 7 8", "［已隐去］", "a mobile spelled out digit by digit"),
            ("1381234567813912345678", "［已隐去］", "two mobiles run together"),
        ];
        for (given, want, rule) in cases {
            assert_eq!(scrub(given), *want, "{rule}: {given:?}");
        }
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        let keep: &[(&str, &str)] = &[
            ("2026-12-01 报修", "an ISO date"),
            ("2026-12-01 08:30 上门", "a date and time"),
            ("2026/12/1", "a date with slashes"),
            ("2026.12.01", "a date with dots"),
            ("20261201", "a date without separators"),
            ("3号楼2单元501", "building, unit, flat"),
            ("CY10-C01-Y01", "a courtyard code"),
            ("惠新西街33号院", "a courtyard name"),
            ("已经3天了，约5000元", "small numbers"),
            ("1234567", "seven digits are not a Beijing number"),
            ("12345 热线", "the hotline's number"),
            ("电话", "no digits at all"),
            ("", "empty"),
            ("(3)", "a bracketed digit"),
            ("价格1.5元/斤", "a decimal"),
        ];
        for (given, rule) in keep {
            assert_eq!(scrub(given), *given, "{rule} survives untouched: {given:?}");
        }
    }

    fn longest_digit_run(s: &str) -> usize {
        let (mut best, mut n) = (0, 0);
        for c in s.chars() {
            n = if digit(c).is_some() { n + 1 } else { 0 };
            best = best.max(n);
        }
        best
    }

    proptest! {
        #[test]
        fn no_output_holds_eleven_consecutive_digits(s in "[0-9０-９ \\-+()（）.xX号楼院电话a]{0,60}") {
            let out = scrub(&s);
            prop_assert!(longest_digit_run(&out) < 11, "{s:?} scrubbed to {out:?}");
        }

        #[test]
        fn a_mobile_never_survives_in_any_text(
            before in "[a-z号楼院 ，]{0,10}",
            after in "[a-z号楼院 ，]{0,10}",
            mid in 3u8..=9,
            rest in 0u64..1_000_000_000,
            sep in prop::sample::select(vec!["", " ", "-"]),
        ) {
            let n = format!("1{mid}{rest:09}");
            let written = format!("{}{sep}{}{sep}{}", &n[..3], &n[3..7], &n[7..]);
            let out = scrub(&format!("{before}{written}{after}"));
            prop_assert!(!out.contains(&n) && !out.contains(&written), "{written:?} survived in {out:?}");
        }
    }
}
