//! JUnit XML reports (`--junit FILE`): one suite, one test case per gate.

use std::path::Path;

use twin_flight::Result;
use twin_machine::Error as TwinError;

/// Write `path`: suite `suite` with a case per (name, failure message or None when it passed).
pub fn write(path: &Path, suite: &str, cases: &[(String, Option<String>)]) -> Result<()> {
    let mut report = quick_junit::Report::new("rt-twin");
    let mut s = quick_junit::TestSuite::new(suite.to_string());
    for (name, failure) in cases {
        let status = match failure {
            None => quick_junit::TestCaseStatus::success(),
            Some(m) => {
                let mut st =
                    quick_junit::TestCaseStatus::non_success(quick_junit::NonSuccessKind::Failure);
                st.set_message(m.clone());
                st
            }
        };
        s.add_test_case(quick_junit::TestCase::new(name.clone(), status));
    }
    report.add_test_suite(s);
    let xml = report
        .to_string()
        .map_err(|e| TwinError::Usage(format!("JUnit report: {e}")))?;
    std::fs::write(path, xml).map_err(|e| TwinError::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    Ok(())
}
