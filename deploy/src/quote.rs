//! The one function that turns an argument vector into a remote command line.
//!
//! SSH carries a single string that the node's login shell parses; every remote command of
//! stoa is built as an argv and quoted here, never pasted together.

use crate::error::TransportError;

/// Quotes `argv` for a POSIX shell so that the shell sees exactly these words.
///
/// Fails on an empty vector and on words containing a NUL byte (no shell can carry those).
pub fn command_line<S: AsRef<str>>(argv: &[S]) -> Result<String, TransportError> {
    if argv.is_empty() {
        return Err(TransportError::EmptyCommand);
    }
    shlex::try_join(argv.iter().map(AsRef::as_ref)).map_err(|_| TransportError::Unquotable {
        word: argv
            .iter()
            .map(AsRef::as_ref)
            .find(|w| w.contains('\0'))
            .unwrap_or_default()
            .replace('\0', "\\0"),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Runs the quoted line through a real `sh` and returns the words it saw.
    fn words_seen_by_sh(argv: &[&str]) -> Vec<String> {
        let line = command_line(argv).unwrap();
        let script = format!("for a in {}; do printf '%s\\0' \"$a\"; done", line);
        let out = std::process::Command::new("sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let mut words: Vec<String> = text.split('\0').map(str::to_owned).collect();
        words.pop();
        words
    }

    #[test]
    fn round_trips_hostile_words_through_sh() {
        let argv = [
            "sh",
            "-c",
            "set -eu\necho \"$1\" 'x' `id` $(id); rm -rf /\n",
            "it's",
            "$HOME",
            "a b\tc",
            "*",
            "~root",
            "",
            "--",
            "é ü",
            "back\\slash",
            "!event",
        ];
        assert_eq!(words_seen_by_sh(&argv), argv);
    }

    #[test]
    fn plain_words_stay_readable() {
        assert_eq!(
            command_line(&["tar", "-x", "-C", "/var/lib/stoa"]).unwrap(),
            "tar -x -C /var/lib/stoa"
        );
    }

    #[test]
    fn refuses_nul_and_empty() {
        assert!(matches!(
            command_line(&["a\0b"]),
            Err(TransportError::Unquotable { .. })
        ));
        assert!(matches!(
            command_line::<&str>(&[]),
            Err(TransportError::EmptyCommand)
        ));
    }
}
