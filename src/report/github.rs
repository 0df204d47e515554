//! GitHub Actions workflow commands, which the runner reads from a step's
//! output: `::warning title=retry-on::MESSAGE`. The message and the title
//! are escaped as the runner unescapes them, so that a `%`, a line break or
//! (in the title) a `:` or `,` cannot end or change the command.

/// The level of a workflow command, which decides how the runner shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Level {
    /// Shown only when the step's debug logging is on.
    Debug,
    Notice,
    Warning,
    Error,
}

/// The title given to every annotation.
const TITLE: &str = "retry-on";

/// One workflow command line, with its newline.
pub(super) fn command(level: Level, message: &str) -> String {
    let message = escape_data(message);
    match level {
        Level::Debug => format!("::debug::{message}\n"),
        Level::Notice => format!("::notice title={}::{message}\n", escape_property(TITLE)),
        Level::Warning => format!("::warning title={}::{message}\n", escape_property(TITLE)),
        Level::Error => format!("::error title={}::{message}\n", escape_property(TITLE)),
    }
}

/// A command's data: `%`, CR and LF become `%25`, `%0D` and `%0A`.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// A property's value: as data, and `:` and `,` become `%3A` and `%2C`.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_escapes_percent_and_line_breaks_but_not_colons_or_commas() {
        assert_eq!(escape_data("100% done,\r\nnext::step"), "100%25 done,%0D%0Anext::step");
        // `%` first, so that the escapes themselves are not escaped again.
        assert_eq!(escape_data("%0A"), "%250A");
    }

    #[test]
    fn properties_also_escape_colons_and_commas() {
        assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
    }

    #[test]
    fn each_level_is_its_own_command_and_only_debug_has_no_title() {
        assert_eq!(
            command(
                Level::Warning,
                "attempt 2/5 failed (exit 255, matched \"x\"); retrying in 2s"
            ),
            "::warning title=retry-on::attempt 2/5 failed (exit 255, matched \"x\"); retrying in 2s\n"
        );
        assert_eq!(command(Level::Error, "a\nb"), "::error title=retry-on::a%0Ab\n");
        assert_eq!(command(Level::Notice, "ok"), "::notice title=retry-on::ok\n");
        assert_eq!(command(Level::Debug, "50%"), "::debug::50%25\n");
    }
}
