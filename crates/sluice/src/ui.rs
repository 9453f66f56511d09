//! Messages for people, on stderr: warnings, notes, errors. Colour only on a terminal and never
//! when `NO_COLOR` is set; colour never carries meaning alone (every line has a word prefix).

use std::io::{IsTerminal, Write};

pub(crate) fn color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

fn paint(code: &str, text: &str) -> String {
    if color() {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

fn line(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}

pub(crate) fn warn(msg: &str) {
    line(&format!("{} {msg}", paint("1;33", "warning:")));
}

pub(crate) fn note(msg: &str) {
    line(msg);
}

pub(crate) fn error(msg: &str, hint: Option<&str>) {
    line(&format!("{} {msg}", paint("1;31", "error:")));
    if let Some(h) = hint {
        line(&format!("  {} {h}", paint("1;36", "hint:")));
    }
}

/// A line of a step's log, prefixed by the step's name.
pub(crate) fn log_line(step: &str, text: &str) {
    line(&format!("{} {text}", paint("2", &format!("[{step}]"))));
}

/// A status change.
pub(crate) fn status(subject: &str, status: &str, message: Option<&str>) {
    let painted = match status {
        "Completed" => paint("32", status),
        "Failed" => paint("31", status),
        "Canceled" => paint("33", status),
        _ => status.to_owned(),
    };
    match message {
        Some(m) => line(&format!("{subject}: {painted} ({m})")),
        None => line(&format!("{subject}: {painted}")),
    }
}

/// Renders a spec error with its snippet, miette-style.
pub(crate) fn spec_error(err: &sluice_spec::SpecError) {
    let handler = if color() {
        miette::GraphicalReportHandler::new()
    } else {
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
    };
    let mut out = String::new();
    let _ = handler.render_report(&mut out, err);
    let mut e = std::io::stderr().lock();
    let _ = writeln!(
        e,
        "{} {}: {}",
        paint("1;31", "error:"),
        err.location(),
        err.message
    );
    let _ = write!(e, "{out}");
}
