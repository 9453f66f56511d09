//! Exit codes: the one place they are defined. `docs/exit-codes.md` documents them, and a test
//! checks that the two agree.

use std::process::ExitCode;

/// How `sluice` exits. The numbers are stable: CI scripts rely on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// The command did what was asked (a job ended `Completed`).
    Success,
    /// A job ended `Failed`.
    JobFailed,
    /// The command line was wrong (unknown flag, missing argument).
    Usage,
    /// A spec file is invalid: YAML, schema, bindings, or a reference that does not resolve.
    InvalidSpec,
    /// A job ended `Canceled`.
    JobCanceled,
    /// A job, asset or compute named on the command line does not exist.
    NotFound,
    /// Something with that name (and version) already exists.
    AlreadyExists,
    /// The workspace could not be opened, read or written.
    Workspace,
    /// A built-in step (`sluice step ...`) failed on its input.
    StepFailed,
    /// No valid token, or the role or a promotion policy forbids the action.
    PermissionDenied,
    /// `audit verify` found the audit log edited or truncated.
    AuditTampered,
    /// A Python environment could not be built (missing interpreter, uninstallable requirement).
    Environment,
}

impl Exit {
    pub(crate) const ALL: [Exit; 12] = [
        Exit::Success,
        Exit::JobFailed,
        Exit::Usage,
        Exit::InvalidSpec,
        Exit::JobCanceled,
        Exit::NotFound,
        Exit::AlreadyExists,
        Exit::Workspace,
        Exit::StepFailed,
        Exit::PermissionDenied,
        Exit::AuditTampered,
        Exit::Environment,
    ];

    /// The exit with code `code` (an unknown code: `Workspace`).
    pub(crate) fn from_code(code: i32) -> Self {
        Self::ALL
            .into_iter()
            .find(|e| i32::from(e.code()) == code)
            .unwrap_or(Exit::Workspace)
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::JobFailed => 1,
            Exit::Usage => 2,
            Exit::InvalidSpec => 3,
            Exit::JobCanceled => 4,
            Exit::NotFound => 5,
            Exit::AlreadyExists => 6,
            Exit::Workspace => 10,
            Exit::StepFailed => 11,
            Exit::PermissionDenied => 12,
            Exit::AuditTampered => 13,
            Exit::Environment => 14,
        }
    }

    pub(crate) fn meaning(self) -> &'static str {
        match self {
            Exit::Success => {
                "success; for `job create` and `job stream`, the job ended `Completed`"
            }
            Exit::JobFailed => {
                "the job ended `Failed` (for `infra apply --smoke-test`: a smoke-test job did not complete)"
            }
            Exit::Usage => "the command line is wrong (unknown flag, missing or bad argument)",
            Exit::InvalidSpec => "a spec file is invalid, or a reference in it does not resolve",
            Exit::JobCanceled => "the job ended `Canceled`",
            Exit::NotFound => "a job, asset or compute named on the command line does not exist",
            Exit::AlreadyExists => "an asset, version or job with that name already exists",
            Exit::Workspace => "the workspace could not be opened, read or written",
            Exit::StepFailed => "a built-in step (`sluice step ...`) failed on its input",
            Exit::PermissionDenied => {
                "the token is missing, invalid or expired, or its role or the model's promotion policy forbids the action"
            }
            Exit::AuditTampered => "`audit verify` found an edited or deleted audit entry",
            Exit::Environment => {
                "a Python environment could not be had (`environment create` or `environment build`): a missing interpreter or an uninstallable requirement"
            }
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e.code())
    }
}

/// Exit code 101 is a bug: Rust's exit code after a panic.
pub(crate) const INTERNAL_ERROR: u8 = 101;
