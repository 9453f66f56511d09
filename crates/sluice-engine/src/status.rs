//! Job and step statuses, with Azure ML's names.

use serde::Serialize;

/// The status of a job or a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Status {
    NotStarted,
    Queued,
    Preparing,
    Running,
    Finalizing,
    Completed,
    Failed,
    Canceled,
}

impl Status {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Status::NotStarted => "NotStarted",
            Status::Queued => "Queued",
            Status::Preparing => "Preparing",
            Status::Running => "Running",
            Status::Finalizing => "Finalizing",
            Status::Completed => "Completed",
            Status::Failed => "Failed",
            Status::Canceled => "Canceled",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "NotStarted" => Status::NotStarted,
            "Queued" => Status::Queued,
            "Preparing" => Status::Preparing,
            "Running" => Status::Running,
            "Finalizing" => Status::Finalizing,
            "Completed" => Status::Completed,
            "Failed" => Status::Failed,
            "Canceled" => Status::Canceled,
            _ => return None,
        })
    }

    /// True once nothing more will happen.
    #[must_use]
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Completed | Status::Failed | Status::Canceled)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
