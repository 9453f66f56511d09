//! Spec files and places in them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A spec file's text, the name it is shown under and the folder its relative paths resolve from.
#[derive(Debug, Clone)]
pub struct Source {
    /// The path as the user gave it (shown in messages).
    pub name: String,
    /// The folder that relative paths in the file resolve against.
    pub dir: PathBuf,
    pub text: Arc<str>,
}

impl Source {
    #[must_use]
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> Self {
        let name = name.into();
        let dir = Path::new(&name)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        Self {
            name,
            dir,
            text: text.into(),
        }
    }

    /// Reads a spec file from disk.
    pub fn read(path: &Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        let mut source = Self::new(path.display().to_string(), text);
        source.dir = std::path::absolute(path)?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        Ok(source)
    }

    /// Resolves a path written in this file against the file's folder.
    #[must_use]
    pub fn resolve(&self, written: &str) -> PathBuf {
        let p = Path::new(written);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            normalize(&self.dir.join(p))
        }
    }

    /// An empty span at the end of the file.
    #[must_use]
    pub fn end_span(&self) -> Span {
        let chars = self.text.chars().count();
        let line = self.text.lines().count().max(1);
        let col = self.text.lines().last().map_or(0, |l| l.chars().count()) + 1;
        Span::new(chars, chars, line, col)
    }

    /// Byte offsets of a span (spans count characters).
    #[must_use]
    pub fn byte_range(&self, span: Span) -> (usize, usize) {
        let mut start = self.text.len();
        let mut end = self.text.len();
        for (i, (byte, _)) in self.text.char_indices().enumerate() {
            if i == span.start {
                start = byte;
            }
            if i == span.end {
                end = byte;
                break;
            }
        }
        (start, end.max(start))
    }
}

/// Removes `.` and resolves `..` components without touching the file system.
#[must_use]
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for comp in path.components() {
        match comp {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// A range of characters in a source, with the 1-based line and column of its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub line: usize,
    pub col: usize,
}

impl Span {
    #[must_use]
    pub fn new(start: usize, end: usize, line: usize, col: usize) -> Self {
        Self {
            start,
            end,
            line,
            col,
        }
    }

    pub(crate) fn from_parser(span: saphyr_parser::Span) -> Self {
        Self::new(
            span.start.index(),
            span.end.index(),
            span.start.line(),
            span.start.col() + 1,
        )
    }

    /// The span from the start of `self` to the end of `other`.
    #[must_use]
    pub fn to(self, other: Span) -> Span {
        Span {
            end: other.end.max(self.end),
            ..self
        }
    }
}

/// A value together with the place it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Self {
        Self { value, span }
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}
