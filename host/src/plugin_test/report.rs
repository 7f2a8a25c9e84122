//! What `yell-host test` found, and its three renderings: text for a
//! person, one JSON object for a script, JUnit XML for CI.
//!
//! Owns: [`Report`], [`CaseResult`], [`ReportFormat`]. Uses: nothing else
//! of this crate.

use std::time::Duration;

use anyhow::Result;

/// How the report is printed on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// A line per check, details under a failure, a summary line.
    Text,
    /// One JSON object.
    Json,
}

/// One check and its outcome.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// `load`, `conformance` or `fixture`.
    pub suite: &'static str,
    /// What was checked.
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// What went wrong (a diff, the failures), or notes on a pass (lines
    /// the plugin refused, which it may).
    pub detail: String,
    /// How long it took.
    pub time: Duration,
}

impl CaseResult {
    /// The plugin did not load: the server's own message.
    pub fn load_failure(error: &anyhow::Error) -> CaseResult {
        CaseResult {
            suite: "load",
            name: "the component loads".into(),
            passed: false,
            detail: format!("{error:#}"),
            time: Duration::ZERO,
        }
    }
}

/// Every check of one plugin.
#[derive(Debug, Clone)]
pub struct Report {
    /// The plugin file tested.
    pub plugin: String,
    /// The checks, in the order they ran.
    pub cases: Vec<CaseResult>,
}

impl Report {
    /// How many checks failed.
    pub fn failed(&self) -> usize {
        self.cases.iter().filter(|case| !case.passed).count()
    }

    /// The report as `format` says.
    pub fn render(&self, format: ReportFormat) -> String {
        match format {
            ReportFormat::Text => self.text(),
            ReportFormat::Json => self.json() + "\n",
        }
    }

    fn text(&self) -> String {
        let mut out = String::new();
        for case in &self.cases {
            let outcome = if case.passed { "ok" } else { "FAILED" };
            out.push_str(&format!("{} {} ... {outcome}\n", case.suite, case.name));
            if !case.detail.is_empty() {
                for line in case.detail.lines() {
                    out.push_str(&format!("    {line}\n"));
                }
            }
        }
        let failed = self.failed();
        out.push_str(&format!(
            "{}: {} passed, {failed} failed\n",
            self.plugin,
            self.cases.len() - failed
        ));
        out
    }

    fn json(&self) -> String {
        let cases: Vec<serde_json::Value> = self
            .cases
            .iter()
            .map(|case| {
                serde_json::json!({
                    "suite": case.suite,
                    "name": case.name,
                    "passed": case.passed,
                    "detail": case.detail,
                    "seconds": case.time.as_secs_f64(),
                })
            })
            .collect();
        serde_json::json!({
            "plugin": self.plugin,
            "passed": self.failed() == 0,
            "failed": self.failed(),
            "cases": cases,
        })
        .to_string()
    }

    /// The report as JUnit XML: a test suite per suite of checks.
    pub fn junit(&self) -> Result<String> {
        let mut report = quick_junit::Report::new("yell-host test");
        for suite_name in ["load", "conformance", "fixture"] {
            let mut suite = quick_junit::TestSuite::new(suite_name);
            for case in self.cases.iter().filter(|case| case.suite == suite_name) {
                let status = if case.passed {
                    quick_junit::TestCaseStatus::success()
                } else {
                    let mut status = quick_junit::TestCaseStatus::non_success(
                        quick_junit::NonSuccessKind::Failure,
                    );
                    status.set_description(case.detail.clone());
                    status
                };
                let mut test_case = quick_junit::TestCase::new(case.name.clone(), status);
                test_case.set_classname(self.plugin.clone());
                test_case.set_time(case.time);
                suite.add_test_case(test_case);
            }
            if !suite.test_cases.is_empty() {
                report.add_test_suite(suite);
            }
        }
        Ok(report.to_string()?)
    }
}
