//! The programme dashboard's data over HTTP, on both backends: its numbers
//! are the programme summary's, each with a chart; analyst keys read it,
//! author keys may not.

use serde_json::Value;

use chatcourse_storage::KeyRole;

use super::harness::{Backend, TestApp, assert_error, both_backends};

both_backends!(dashboard_matches_the_programme_summary);

/// Programme 49 with three learners: one completes "Test Module Updated"
/// (pre-quiz 2/2, post-quiz 2/2), one opts out, one has only enrolled.
pub async fn build_programme(app: &TestApp) {
    let module = app.module_uuid("Test Module Updated").await;
    let mut sessions = Vec::new();
    for _ in 0..3 {
        let customer = app.register_customer().await;
        let session = app.enrol(&customer, &module, 49).await;
        sessions.push((customer, session));
    }
    for reply in ["1", "2", "1", "1", "2", "1"] {
        app.say(&sessions[0].0, &sessions[0].1, reply).await;
    }
    app.say(&sessions[1].0, &sessions[1].1, "STOP").await;
}

/// The rows of the `status` section and the program summary's field each
/// shows.
pub const STATUS_ROWS: [(&str, &str); 5] = [
    ("Enrolled", "enrolled"),
    ("Active", "active"),
    ("Completed", "completed"),
    ("Opted out", "opted_out"),
    ("Expired", "expired"),
];

/// The number in `section`'s row labelled `label`.
pub fn cell(sections: &Value, section: &str, label: &str) -> Value {
    sections
        .as_array()
        .expect("sections")
        .iter()
        .find(|s| s["id"] == section)
        .unwrap_or_else(|| panic!("section {section} in {sections}"))["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|row| row[0] == label)
        .unwrap_or_else(|| panic!("row {label} of {section}"))[1]
        .clone()
}

async fn dashboard_matches_the_programme_summary(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    build_programme(&app).await;
    let analyst = app.new_key_with_role("org-a", KeyRole::Analyst).await;
    let (status, summary) = app
        .get_with("/api/v1/fe/program/summary?programIdentifier=49", &analyst)
        .await;
    assert_eq!(status, 200, "{summary}");
    let summary = &summary["data"];
    assert_eq!(summary["enrolled"], 3);
    assert_eq!(summary["completed"], 1);
    assert_eq!(summary["opted_out"], 1);
    assert_eq!(summary["average_post_score"], 100.0);
    let (status, body) = app
        .get_with(
            "/api/v1/fe/program/dashboard?programIdentifier=49",
            &analyst,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    assert_eq!(&data["summary"], summary);
    let sections = &data["sections"];
    for (label, field) in STATUS_ROWS {
        assert_eq!(
            cell(sections, "status", label).as_f64(),
            summary[field].as_f64(),
            "{label}"
        );
    }
    assert_eq!(
        cell(sections, "scores", "Before (pre-quiz)"),
        summary["average_pre_score"]
    );
    assert_eq!(
        cell(sections, "scores", "After (post-quiz)"),
        summary["average_post_score"]
    );
    // The report's figures: paired gain and share right per question.
    if summary["paired_learners"].as_i64().unwrap_or(0) > 0 {
        assert_eq!(
            cell(sections, "paired", "Before (pre-quiz)"),
            summary["paired_average_pre_score"]
        );
    }
    let (_, report) = app
        .get_with("/api/v1/fe/program/report?programIdentifier=49", &analyst)
        .await;
    let questions = report["data"]["questions"].as_array().expect("questions");
    assert!(!questions.is_empty(), "{report}");
    for q in questions {
        let label = format!(
            "{} ({})",
            q["question_id"].as_str().unwrap(),
            q["quiz"].as_str().unwrap()
        );
        assert_eq!(
            cell(sections, "questions", &label),
            q["correct_share"],
            "{label}"
        );
    }
    for section in sections.as_array().unwrap() {
        if section["id"] != "delivery" {
            let svg = section["svg"].as_str().expect("a chart");
            assert!(svg.starts_with("<svg"), "{section}");
        }
    }
    // No channel: the delivery section says so and has no rows.
    assert_eq!(cell_count(sections, "delivery"), 0);

    let author = app.new_key_with_role("org-a", KeyRole::Author).await;
    let (status, body) = app
        .get_with("/api/v1/fe/program/dashboard?programIdentifier=49", &author)
        .await;
    assert_error(status, &body, 403, "insufficient_role");
    let (status, body) = app
        .get("/api/v1/fe/program/dashboard?programIdentifier=50")
        .await;
    assert_error(status, &body, 404, "program_not_found");
    let (status, body) = app
        .get("/api/v1/fe/program/dashboard?programIdentifier=x")
        .await;
    assert_error(status, &body, 400, "validation_failed");
}

fn cell_count(sections: &Value, section: &str) -> usize {
    sections
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == section)
        .unwrap()["rows"]
        .as_array()
        .unwrap()
        .len()
}
