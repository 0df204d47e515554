//! retry-on run to its end, for tests that then look at its exit and output.

use super::command::{BIN, isolated};

/// retry-on, [`isolated`], as an assert_cmd command (for `.assert()`,
/// `.timeout()` and `.write_stdin()`).
pub fn retry_on() -> assert_cmd::Command {
    isolated(BIN).into()
}
