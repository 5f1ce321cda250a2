//! Lowering a `wait:` step (courses paced over days): a duration, a time
//! of day, or a map of `after`, `at`, `days`, `skip` and `reply`; with the
//! diagnostics for times and weekdays written the way people say them.

use chrono::{NaiveTime, Weekday};

use super::Ctx;
use super::format;
use crate::diagnostics::suggest;
use crate::matching::normalize;
use crate::module::Text;
use crate::syntax::{Node, NodeKind};

/// A `wait` step before its `next` is resolved.
#[derive(Debug)]
pub(super) struct DraftWait {
    pub after: Option<chrono::Duration>,
    pub at: Option<NaiveTime>,
    pub days: Vec<Weekday>,
    pub skip: Vec<String>,
    pub reply: Option<Text>,
}

pub(super) fn lower_wait(cx: &mut Ctx<'_>, node: &Node) -> DraftWait {
    let mut wait = DraftWait {
        after: None,
        at: None,
        days: Vec::new(),
        skip: Vec::new(),
        reply: None,
    };
    match &node.kind {
        NodeKind::Map(_) => {}
        NodeKind::Scalar { .. } if !node.is_null() => {
            let text = node.as_scalar().unwrap_or("");
            if looks_like_time(text) {
                wait.at = time_of_day(cx, node, "wait");
            } else {
                wait.after = cx.duration(node, "wait");
            }
            return wait;
        }
        _ => {
            cx.wrong_type(
                node,
                "`wait` should be a duration, a time of day or a map",
                Some(
                    "write `wait: 1d`, `wait: \"09:00\"`, or `wait: { after: 12h, at: \"09:00\" }`"
                        .into(),
                ),
            );
            return wait;
        }
    }
    let Some(fields) = cx.fields(node, "`wait`", &format::WAIT) else {
        return wait;
    };
    wait.after = fields.get("after").and_then(|n| cx.duration(n, "after"));
    wait.at = fields.get("at").and_then(|n| time_of_day(cx, n, "at"));
    if let Some(n) = fields.get("days") {
        wait.days = weekdays(cx, n);
        if !fields.has("at")
            && fields.misspelt("at").is_none()
            && let Some(key) = fields.key("days")
        {
            cx.error(
                "missing-field",
                key.span,
                "`days` needs `at`: the time of day the course goes on, on those days".into(),
                Some("add `at: \"09:00\"` (24-hour, in the learner's time zone)".into()),
            );
        }
    }
    if let Some(n) = fields.get("skip") {
        wait.skip = cx
            .strings(n, "skip")
            .into_iter()
            .map(|(s, _)| normalize(&s))
            .filter(|s| !s.is_empty())
            .collect();
    }
    if let Some(n) = fields.get("reply") {
        cx.pause_vars = true;
        wait.reply = Some(cx.text(n, "reply", true));
        cx.pause_vars = false;
    }
    // `days` without `at` is reported above.
    let said_when = ["after", "at", "days"]
        .iter()
        .any(|k| fields.has(k) || fields.misspelt(k).is_some());
    if !said_when {
        cx.error(
            "missing-field",
            node.span,
            "`wait` says neither `after` nor `at`: the pause would never end".into(),
            Some(
                "add `after: 1d` (a duration), `at: \"09:00\"` (the next time of day), or both"
                    .into(),
            ),
        );
    }
    wait
}

/// A scalar meant as a time of day rather than a duration: it has a `:`
/// (`9:00`) or says `am`/`pm`.
fn looks_like_time(text: &str) -> bool {
    let t = text.trim().to_ascii_lowercase();
    t.contains(':') || t.ends_with("am") || t.ends_with("pm")
}

/// `HH:MM`, 24-hour (`9:00` and `09:00` both).
pub fn parse_time_of_day(text: &str) -> Option<NaiveTime> {
    let (h, m) = text.trim().split_once(':')?;
    let digits = |s: &str, max: u32, len: std::ops::RangeInclusive<usize>| {
        (len.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
            .filter(|v| *v <= max)
    };
    NaiveTime::from_hms_opt(digits(h, 23, 1..=2)?, digits(m, 59, 2..=2)?, 0)
}

fn time_of_day(cx: &mut Ctx<'_>, node: &Node, field: &str) -> Option<NaiveTime> {
    let Some(text) = node.as_scalar().filter(|_| !node.is_null()) else {
        cx.wrong_type(
            node,
            &format!("`{field}` should be a time of day"),
            Some("write the time as `HH:MM`, 24-hour, e.g. `\"09:00\"`".into()),
        );
        return None;
    };
    if let Some(t) = parse_time_of_day(text) {
        return Some(t);
    }
    let hint = match time_meant(text) {
        Some(t) => format!(
            "did you mean `\"{}\"`? Times are `HH:MM`, 24-hour",
            t.format("%H:%M")
        ),
        None => "write the time as `HH:MM`, 24-hour, e.g. `\"09:00\"` or `\"18:30\"`".into(),
    };
    cx.error(
        "invalid-time",
        node.span,
        format!("`{field}`: `{text}` is not a time of day"),
        Some(hint),
    );
    None
}

/// The time a person meant by `9am`, `9.30 pm`, `9h30`, `0930`, `9` or
/// `24:00`.
fn time_meant(text: &str) -> Option<NaiveTime> {
    let t = text.trim().to_ascii_lowercase().replace(' ', "");
    let (t, pm) = match (t.strip_suffix("am"), t.strip_suffix("pm")) {
        (Some(t), _) => (t.to_owned(), Some(false)),
        (_, Some(t)) => (t.to_owned(), Some(true)),
        _ => (t, None),
    };
    let t = t.trim_end_matches('.');
    let (h, m) = match t.split_once([':', '.', 'h']) {
        Some((h, m)) => (h, if m.is_empty() { "0" } else { m }),
        None if t.len() == 4 => t.split_at(2),
        None => (t, "0"),
    };
    let h: u32 = h.parse().ok()?;
    let m: u32 = m.parse().ok()?;
    let h = match pm {
        Some(true) if (1..12).contains(&h) => h + 12,
        Some(false) if h == 12 => 0,
        Some(_) if !(1..=12).contains(&h) => return None,
        None if h == 24 && m == 0 => 0,
        _ => h,
    };
    NaiveTime::from_hms_opt(h, m, 0)
}

const DAY_NAMES: [(&str, Weekday); 7] = [
    ("monday", Weekday::Mon),
    ("tuesday", Weekday::Tue),
    ("wednesday", Weekday::Wed),
    ("thursday", Weekday::Thu),
    ("friday", Weekday::Fri),
    ("saturday", Weekday::Sat),
    ("sunday", Weekday::Sun),
];

/// `mon`, `Monday`, `tues`, `thurs`...: a weekday's full name or a prefix
/// of it of three letters or more.
pub fn parse_weekday(text: &str) -> Option<Weekday> {
    let t = text.trim().to_ascii_lowercase();
    (t.len() >= 3)
        .then(|| DAY_NAMES.iter().find(|(name, _)| name.starts_with(&t)))
        .flatten()
        .map(|(_, d)| *d)
}

fn weekdays(cx: &mut Ctx<'_>, node: &Node) -> Vec<Weekday> {
    let mut days = Vec::new();
    let items = cx.strings(node, "days");
    if items.is_empty() && !node.is_null() && matches!(node.kind, NodeKind::Seq(_)) {
        cx.error(
            "invalid-value",
            node.span,
            "`days` is empty: the pause would never end".into(),
            Some("list the weekdays, e.g. `days: [mon, wed, fri]`, or remove `days`".into()),
        );
    }
    for (text, item) in items {
        let range = text.split_once('-');
        let parsed = match range {
            Some((a, b)) => parse_weekday(a).zip(parse_weekday(b)).map(|(a, b)| {
                let mut out = vec![a];
                let mut d = a;
                while d != b {
                    d = d.succ();
                    out.push(d);
                }
                out
            }),
            None => parse_weekday(&text).map(|d| vec![d]),
        };
        match parsed {
            Some(list) => {
                for d in list {
                    if !days.contains(&d) {
                        days.push(d);
                    }
                }
            }
            None => {
                let bad = match range {
                    Some((a, b)) if parse_weekday(a).is_some() => b.trim(),
                    Some((a, _)) => a.trim(),
                    None => text.trim(),
                };
                let lower = bad.to_ascii_lowercase();
                // `wensday` is closer to `wednesday` than to `wed`.
                let meant =
                    crate::diagnostics::did_you_mean(&lower, DAY_NAMES.iter().map(|(n, _)| *n))
                        .map(|n| format!("did you mean `{}`?", &n[..3]));
                let hint = meant
                    .or_else(|| suggest(&lower, DAY_NAMES.iter().map(|(n, _)| &n[..3])))
                    .unwrap_or_else(|| {
                        "write weekdays as `mon`, `tue`, `wed`, `thu`, `fri`, `sat`, `sun` (or in full), or a range `mon-fri`".into()
                    });
                cx.error(
                    "invalid-weekday",
                    item.span,
                    format!("`{bad}` is not a weekday"),
                    Some(hint),
                );
            }
        }
    }
    days.sort_by_key(|d| d.num_days_from_monday());
    days
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_of_day() {
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0);
        assert_eq!(parse_time_of_day("09:00"), t(9, 0));
        assert_eq!(parse_time_of_day(" 9:05 "), t(9, 5));
        assert_eq!(parse_time_of_day("23:59"), t(23, 59));
        for bad in ["24:00", "9:5", "9", "09:60", "9am", "-1:00", "9:00:00", ""] {
            assert_eq!(parse_time_of_day(bad), None, "{bad}");
        }
        assert_eq!(time_meant("9am"), t(9, 0));
        assert_eq!(time_meant("9 PM"), t(21, 0));
        assert_eq!(time_meant("9.30pm"), t(21, 30));
        assert_eq!(time_meant("12am"), t(0, 0));
        assert_eq!(time_meant("12pm"), t(12, 0));
        assert_eq!(time_meant("9h30"), t(9, 30));
        assert_eq!(time_meant("0930"), t(9, 30));
        assert_eq!(time_meant("9"), t(9, 0));
        assert_eq!(time_meant("24:00"), t(0, 0));
        assert_eq!(time_meant("13pm"), None);
        assert_eq!(time_meant("noon"), None);
    }

    #[test]
    fn weekday_names() {
        assert_eq!(parse_weekday("mon"), Some(Weekday::Mon));
        assert_eq!(parse_weekday("Thurs"), Some(Weekday::Thu));
        assert_eq!(parse_weekday("SUNDAY"), Some(Weekday::Sun));
        assert_eq!(parse_weekday("mo"), None);
        assert_eq!(parse_weekday("mondays"), None);
    }
}
