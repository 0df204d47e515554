//! Exit statuses as a shell reports them.

use std::process::ExitStatus;

/// The status as a shell would report it: the code, or 128+N for signal N.
pub fn shell_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap())
}
