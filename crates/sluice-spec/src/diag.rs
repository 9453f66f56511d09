//! Errors and warnings that point into a spec file.

use std::fmt;

use miette::{NamedSource, SourceSpan};

use crate::source::{Source, Span};

/// A problem with a spec file, located at `file:line:column`.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SpecError {
    pub message: String,
    pub file: String,
    pub span: Span,
    pub label: Option<String>,
    pub help: Option<String>,
    named: NamedSource<std::sync::Arc<str>>,
    empty: bool,
    bytes: (usize, usize),
}

impl SpecError {
    pub fn new(source: &Source, span: Span, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            file: source.name.clone(),
            span,
            label: None,
            help: None,
            named: NamedSource::new(&source.name, source.text.clone()),
            empty: source.text.is_empty(),
            bytes: source.byte_range(span),
        }
    }

    /// An error about a file that could not be read at all (no place inside it).
    pub fn file(name: &str, message: impl Into<String>) -> Self {
        let source = Source::new(name, "");
        Self::new(&source, Span::new(0, 0, 1, 1), message)
    }

    #[must_use]
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// `file:line:column` of the error.
    #[must_use]
    pub fn location(&self) -> String {
        format!("{}:{}:{}", self.file, self.span.line, self.span.col)
    }
}

impl miette::Diagnostic for SpecError {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h.clone()) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        if self.empty {
            None
        } else {
            Some(&self.named as &dyn miette::SourceCode)
        }
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        if self.empty {
            return None;
        }
        let span = SourceSpan::new(self.bytes.0.into(), self.bytes.1 - self.bytes.0);
        Some(Box::new(std::iter::once(
            miette::LabeledSpan::new_with_span(self.label.clone(), span),
        )))
    }
}

/// Something worth telling the user that does not stop the job (a duplicate key, an ignored
/// setting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub file: String,
    pub span: Span,
    pub message: String,
}

impl Warning {
    pub fn new(source: &Source, span: Span, message: impl Into<String>) -> Self {
        Self {
            file: source.name.clone(),
            span,
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.span.line, self.span.col, self.message
        )
    }
}
