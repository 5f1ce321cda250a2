//! `wait` steps: when a pause ends in the learner's time zone, and what
//! wake-ups and messages do during it.

use chatcourse_engine::module::{StepKind, Wait};
use chatcourse_engine::{Effect, Input, Module, StartOptions, State, Status, start_in_zone, step};
use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc, Weekday};

use super::load;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn wait(after: Option<i64>, at: Option<(u32, u32)>, days: &[Weekday]) -> Wait {
    let module = load(PACED);
    let StepKind::Wait(w) = &module.steps[1].kind else {
        panic!("step 1 is a wait");
    };
    Wait {
        after: after.map(Duration::hours),
        at: at.map(|(h, m)| NaiveTime::from_hms_opt(h, m, 0).unwrap()),
        days: days.to_vec(),
        ..(**w).clone()
    }
}

#[test]
fn a_pause_ends_at_the_next_local_time_of_day() {
    let nairobi: chrono_tz::Tz = "Africa/Nairobi".parse().unwrap();
    // Monday 2026-01-05 08:00 UTC is 11:00 in Nairobi.
    let monday = utc(2026, 1, 5, 8, 0);
    let at9 = wait(None, Some((9, 0)), &[]);
    assert_eq!(at9.resume_at(monday, nairobi), Some(utc(2026, 1, 6, 6, 0)));
    // Before 09:00 local: the same day.
    assert_eq!(
        at9.resume_at(utc(2026, 1, 5, 5, 0), nairobi),
        Some(utc(2026, 1, 5, 6, 0))
    );
    // Exactly 09:00 local: the next day (strictly after).
    assert_eq!(
        at9.resume_at(utc(2026, 1, 5, 6, 0), nairobi),
        Some(utc(2026, 1, 6, 6, 0))
    );
    // The same instant is 08:00 in UTC: 09:00 is still to come today.
    assert_eq!(
        at9.resume_at(monday, chrono_tz::UTC),
        Some(utc(2026, 1, 5, 9, 0))
    );
    // A duration alone.
    assert_eq!(
        wait(Some(2), None, &[]).resume_at(monday, nairobi),
        Some(monday + Duration::hours(2))
    );
    // At least 12 hours, then 09:00: started 05:00 local, not 09:00 today.
    let day_after = wait(Some(12), Some((9, 0)), &[]);
    assert_eq!(
        day_after.resume_at(utc(2026, 1, 5, 2, 0), nairobi),
        Some(utc(2026, 1, 6, 6, 0))
    );
    // Weekdays only: Friday evening goes to Monday.
    let weekdays = wait(
        Some(12),
        Some((9, 0)),
        &[
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
        ],
    );
    assert_eq!(
        weekdays.resume_at(utc(2026, 1, 9, 15, 0), nairobi),
        Some(utc(2026, 1, 12, 6, 0))
    );
    // One day a week: a week later when today's time has passed.
    let mondays = wait(None, Some((9, 0)), &[Weekday::Mon]);
    assert_eq!(
        mondays.resume_at(monday, nairobi),
        Some(utc(2026, 1, 12, 6, 0))
    );
}

#[test]
fn clock_changes_neither_skip_nor_repeat_a_pause() {
    let london: chrono_tz::Tz = "Europe/London".parse().unwrap();
    // 2026-03-29: 01:00 GMT jumps to 02:00 BST; 01:30 never happens, so
    // the pause ends an hour later, at 02:30 BST (01:30 UTC).
    let w = wait(None, Some((1, 30)), &[]);
    assert_eq!(
        w.resume_at(utc(2026, 3, 28, 12, 0), london),
        Some(utc(2026, 3, 29, 1, 30))
    );
    // 2026-10-25: 01:30 happens twice; the first (BST, 00:30 UTC).
    assert_eq!(
        w.resume_at(utc(2026, 10, 24, 12, 0), london),
        Some(utc(2026, 10, 25, 0, 30))
    );
}

const PACED: &str = r#"
module: paced
name: Paced
goal: learn a little each day
version: "1"
language: en
languages: [en, sw]
steps:
  - id: day1
    say: { en: Day 1., sw: Siku 1. }
  - id: pause
    wait:
      at: "09:00"
      skip: [next]
  - id: day2
    ask: { en: Day 2. Ready?, sw: Siku 2. Tayari? }
    choices: [{ en: Yes, sw: Ndiyo }]
  - id: pause2
    wait:
      after: 1d
      reply: { en: "Back {resume_day} at {resume_time}.", sw: "Tutarudi {resume_day} saa {resume_time}." }
  - id: done
    end: Done.
"#;

struct Paced<'m> {
    module: &'m Module,
    state: State,
    sent: Vec<String>,
    effects: Vec<Effect>,
}

impl Paced<'_> {
    fn input(&mut self, input: Input) -> &[String] {
        let turn = step(self.module, &self.state, &input).unwrap();
        self.sent = turn.messages().map(str::to_owned).collect();
        self.effects = turn.effects;
        self.state = turn.state;
        &self.sent
    }
}

fn paced<'m>(
    module: &'m Module,
    language: &str,
    zone: Option<&str>,
    at: DateTime<Utc>,
) -> Paced<'m> {
    let opts = StartOptions {
        language: Some(language.into()),
        learner_name: None,
    };
    let turn = start_in_zone(module, opts, zone, at);
    Paced {
        module,
        sent: turn.messages().map(str::to_owned).collect(),
        effects: turn.effects,
        state: turn.state,
    }
}

#[test]
fn a_paused_course_goes_on_at_its_wake_up_and_tells_early_writers_when() {
    let m = load(PACED);
    let monday = utc(2026, 1, 5, 8, 0); // 11:00 in Nairobi
    let mut c = paced(&m, "en", Some("Africa/Nairobi"), monday);
    assert_eq!(c.sent, ["Day 1."]);
    let nine = utc(2026, 1, 6, 6, 0);
    assert_eq!(c.state.wake_at, Some(nine));
    assert_eq!(c.state.step, "pause");
    assert_eq!(c.state.timezone.as_deref(), Some("Africa/Nairobi"));
    assert!(c.effects.contains(&Effect::Paused {
        step_id: "pause".into(),
        until: Some(nine),
    }));
    // The engine's own reply, in the learner's language and zone.
    assert_eq!(
        c.input(Input::text("hello", monday + Duration::minutes(5))),
        ["Your next lesson comes tomorrow at 09:00."]
    );
    assert_eq!(
        c.input(Input::text("hello", utc(2026, 1, 6, 5, 0))),
        ["Your next lesson comes today at 09:00."]
    );
    assert_eq!(
        c.state.wake_at,
        Some(nine),
        "a message does not move the pause"
    );
    // An early wake-up changes nothing; the due one goes on.
    assert!(
        c.input(Input::Wake {
            at: nine - Duration::seconds(1)
        })
        .is_empty()
    );
    assert_eq!(c.state.step, "pause");
    assert_eq!(
        c.input(Input::Wake { at: nine }),
        ["Day 2. Ready?\n1. Yes\nReply 1."]
    );
    assert_eq!(c.state.wake_at, None);
    // The author's reply, with the resume day and time.
    let tuesday = nine + Duration::minutes(1);
    c.input(Input::text("1", tuesday));
    assert_eq!(c.state.step, "pause2");
    assert_eq!(
        c.input(Input::text("when?", tuesday + Duration::minutes(1))),
        ["Back tomorrow at 09:01."]
    );
    // A message after the time, before the wake-up was delivered, gets
    // what the wake-up would have sent.
    assert_eq!(
        c.input(Input::text("hi", tuesday + Duration::days(2))),
        ["Done."]
    );
    assert_eq!(c.state.status, Status::Completed);
}

#[test]
fn skip_help_stop_and_restart_during_a_pause() {
    let m = load(PACED);
    let at = utc(2026, 1, 5, 8, 0);
    let mut c = paced(&m, "sw", None, at);
    assert_eq!(c.state.timezone, None, "no zone: UTC");
    assert_eq!(c.state.wake_at, Some(utc(2026, 1, 5, 9, 0)));
    assert_eq!(
        c.input(Input::text("habari", at)),
        ["Somo lako lijalo litakuja leo saa 09:00."]
    );
    let help = c.input(Input::text("msaada", at)).to_vec();
    assert_eq!(help.len(), 2, "{help:?}");
    assert!(help[0].contains("STOP"), "{help:?}");
    assert_eq!(c.state.step, "pause");
    // The `skip` word goes on at once.
    assert_eq!(
        c.input(Input::text("Next!", at)),
        ["Siku 2. Tayari?\n1. Ndiyo\nJibu 1."]
    );
    c.input(Input::text("1", at));
    assert_eq!(c.state.step, "pause2");
    assert_eq!(
        c.input(Input::text("lini?", at)),
        ["Tutarudi kesho saa 08:00."]
    );
    c.input(Input::text("restart", at));
    assert_eq!(c.sent, ["Siku 1."]);
    assert_eq!(c.state.step, "pause");
    c.input(Input::text("stop", at));
    assert_eq!(c.state.status, Status::OptedOut);
    assert_eq!(c.state.wake_at, None);
    assert!(
        c.input(Input::Wake {
            at: at + Duration::days(3)
        })
        .is_empty()
    );
}

#[test]
fn the_time_zone_is_kept_in_the_state_and_old_states_read_as_utc() {
    let m = load(PACED);
    let at = utc(2026, 1, 5, 8, 0);
    let c = paced(&m, "en", Some("America/New_York"), at);
    let json = c.state.to_json();
    assert!(json.contains(r#""timezone":"America/New_York""#), "{json}");
    assert_eq!(State::from_json(&json).unwrap(), c.state);
    // 09:00 in New York is 14:00 UTC.
    assert_eq!(c.state.wake_at, Some(utc(2026, 1, 5, 14, 0)));
    // Not a zone: UTC, and nothing stored.
    let c = paced(&m, "en", Some("Mars/Olympus"), at);
    assert_eq!(c.state.timezone, None);
    assert_eq!(c.state.wake_at, Some(utc(2026, 1, 5, 9, 0)));
    // A state written before time zones existed has none.
    let old = json.replace(r#","timezone":"America/New_York""#, "");
    assert!(!old.contains("timezone"));
    assert_eq!(State::from_json(&old).unwrap().timezone, None);
}
