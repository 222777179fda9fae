//! The Windows (delvewheel's rules) repair plan.

use super::{Plan, RepairOptions};
use crate::analyze::Analysis;
use crate::wheel::WheelArchive;
use crate::{Error, Result};

/// Builds the plan for a windows wheel.
pub fn plan(archive: &WheelArchive, a: &Analysis, options: &RepairOptions) -> Result<Plan> {
    let _ = (a, options);
    Err(Error::CannotRepair {
        wheel: archive.path().display().to_string(),
        reason: "repair of windows wheels is not available yet".into(),
        hint: None,
    })
}
