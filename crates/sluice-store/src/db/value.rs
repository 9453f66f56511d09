//! Values crossing the database boundary: SQLite's five storage classes, which every column the
//! store keeps maps onto in both engines (PostgreSQL's `BIGINT`, `DOUBLE PRECISION`, `TEXT`,
//! `BYTEA`).

/// A borrowed value: a parameter being bound or a column being read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

impl ValueRef<'_> {
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Null => "NULL",
            Self::Integer(_) => "an integer",
            Self::Real(_) => "a real",
            Self::Text(_) => "text",
            Self::Blob(_) => "a blob",
        }
    }
}

impl<'a> From<rusqlite::types::ValueRef<'a>> for ValueRef<'a> {
    fn from(v: rusqlite::types::ValueRef<'a>) -> Self {
        use rusqlite::types::ValueRef as V;
        match v {
            V::Null => Self::Null,
            V::Integer(i) => Self::Integer(i),
            V::Real(f) => Self::Real(f),
            // SQLite text is UTF-8 unless a caller stored otherwise; the store never does.
            V::Text(t) => std::str::from_utf8(t).map_or(Self::Blob(t), Self::Text),
            V::Blob(b) => Self::Blob(b),
        }
    }
}

impl rusqlite::ToSql for ValueRef<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef as V};
        Ok(ToSqlOutput::Borrowed(match *self {
            Self::Null => V::Null,
            Self::Integer(i) => V::Integer(i),
            Self::Real(f) => V::Real(f),
            Self::Text(t) => V::Text(t.as_bytes()),
            Self::Blob(b) => V::Blob(b),
        }))
    }
}

/// An owned value (a dynamically typed parameter list, a column of any type).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// A Rust value bound as a parameter.
pub trait ToSql {
    fn to_value(&self) -> ValueRef<'_>;
}

impl<T: ToSql + ?Sized> ToSql for &T {
    fn to_value(&self) -> ValueRef<'_> {
        (**self).to_value()
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn to_value(&self) -> ValueRef<'_> {
        self.as_ref().map_or(ValueRef::Null, ToSql::to_value)
    }
}

impl ToSql for Value {
    fn to_value(&self) -> ValueRef<'_> {
        match self {
            Self::Null => ValueRef::Null,
            Self::Integer(i) => ValueRef::Integer(*i),
            Self::Real(f) => ValueRef::Real(*f),
            Self::Text(t) => ValueRef::Text(t),
            Self::Blob(b) => ValueRef::Blob(b),
        }
    }
}

impl ToSql for ValueRef<'_> {
    fn to_value(&self) -> ValueRef<'_> {
        *self
    }
}

impl ToSql for str {
    fn to_value(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}

impl ToSql for String {
    fn to_value(&self) -> ValueRef<'_> {
        ValueRef::Text(self)
    }
}

impl ToSql for [u8] {
    fn to_value(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}

impl ToSql for Vec<u8> {
    fn to_value(&self) -> ValueRef<'_> {
        ValueRef::Blob(self)
    }
}

impl ToSql for bool {
    fn to_value(&self) -> ValueRef<'_> {
        ValueRef::Integer(i64::from(*self))
    }
}

impl ToSql for f64 {
    fn to_value(&self) -> ValueRef<'_> {
        ValueRef::Real(*self)
    }
}

macro_rules! int_to_sql {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            fn to_value(&self) -> ValueRef<'_> {
                ValueRef::Integer(i64::from(*self))
            }
        }
    )*};
}
int_to_sql!(i8, i16, i32, i64, u8, u16, u32);

macro_rules! wide_to_sql {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            fn to_value(&self) -> ValueRef<'_> {
                // Counts and sizes the store writes fit an i64; saturate rather than wrap.
                ValueRef::Integer(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
    )*};
}
wide_to_sql!(u64, usize, isize);

/// A Rust value read from a column. `Err` carries the kind of value found.
pub trait FromSql: Sized {
    /// What the caller wanted, for error messages.
    const NAME: &'static str;
    fn from_sql(v: ValueRef<'_>) -> Result<Self, &'static str>;
}

impl<T: FromSql> FromSql for Option<T> {
    const NAME: &'static str = T::NAME;
    fn from_sql(v: ValueRef<'_>) -> Result<Self, &'static str> {
        match v {
            ValueRef::Null => Ok(None),
            v => T::from_sql(v).map(Some),
        }
    }
}

impl FromSql for i64 {
    const NAME: &'static str = "an integer";
    fn from_sql(v: ValueRef<'_>) -> Result<Self, &'static str> {
        match v {
            ValueRef::Integer(i) => Ok(i),
            other => Err(other.kind()),
        }
    }
}

macro_rules! int_from_sql {
    ($($t:ty),*) => {$(
        impl FromSql for $t {
            const NAME: &'static str = "an integer";
            fn from_sql(v: ValueRef<'_>) -> Result<Self, &'static str> {
                match v {
                    ValueRef::Integer(i) => <$t>::try_from(i).map_err(|_| "an out-of-range integer"),
                    other => Err(other.kind()),
                }
            }
        }
    )*};
}
int_from_sql!(i32, u32, u64, usize);

impl FromSql for bool {
    const NAME: &'static str = "a boolean";
    fn from_sql(v: ValueRef<'_>) -> Result<Self, &'static str> {
        match v {
            ValueRef::Integer(i) => Ok(i != 0),
            other => Err(other.kind()),
        }
    }
}

impl FromSql for f64 {
    const NAME: &'static str = "a real";
    fn from_sql(v: ValueRef<'_>) -> Result<Self, &'static str> {
        match v {
            ValueRef::Real(f) => Ok(f),
            #[expect(
                clippy::cast_precision_loss,
                reason = "SQLite widens integers the same way"
            )]
            ValueRef::Integer(i) => Ok(i as f64),
            other => Err(other.kind()),
        }
    }
}

impl FromSql for String {
    const NAME: &'static str = "text";
    fn from_sql(v: ValueRef<'_>) -> Result<Self, &'static str> {
        match v {
            ValueRef::Text(t) => Ok(t.to_owned()),
            other => Err(other.kind()),
        }
    }
}

impl FromSql for Vec<u8> {
    const NAME: &'static str = "a blob";
    fn from_sql(v: ValueRef<'_>) -> Result<Self, &'static str> {
        match v {
            ValueRef::Blob(b) => Ok(b.to_vec()),
            ValueRef::Text(t) => Ok(t.as_bytes().to_vec()),
            other => Err(other.kind()),
        }
    }
}

impl FromSql for Value {
    const NAME: &'static str = "a value";
    fn from_sql(v: ValueRef<'_>) -> Result<Self, &'static str> {
        Ok(match v {
            ValueRef::Null => Self::Null,
            ValueRef::Integer(i) => Self::Integer(i),
            ValueRef::Real(f) => Self::Real(f),
            ValueRef::Text(t) => Self::Text(t.to_owned()),
            ValueRef::Blob(b) => Self::Blob(b.to_vec()),
        })
    }
}
