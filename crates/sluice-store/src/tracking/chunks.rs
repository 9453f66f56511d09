//! Metric histories on SQLite, stored as chunks: a fold of `metric_points_recent` (formerly
//! `metrics_recent`) writes one row per
//! history it holds points of, whose `points` blob packs them in order. (PostgreSQL writes each
//! point as a row of `metrics`; see `insert_points`.)
//!
//! Why: a fold used to insert each point as a row of `metrics`, keyed by (run, key, step, ...).
//! Under a steady log-batch load of 8 runs × 100 keys, a fold of 16,384 points touched ~800
//! places in that B-tree (~1,600 pages, with splits) and took half of the writer's time; the
//! same fold as ~800 chunk rows appended at the end of each history takes a few pages per
//! history, and a history of 10,000 points is read as a few blobs instead of 10,000 rows.
//!
//! A batch holding many points of one history writes them as a chunk straight away ([`write`]),
//! so a history logged in bulk is read as blobs before any fold. Chunks are numbered by one
//! count (`metrics_recent_count.folds`) whoever writes them; a history's chunks may overlap in
//! steps, and the reader orders and merges them.
//!
//! A blob is a format byte ([`FORMAT`]) then, per point, in the history's order (step,
//! timestamp, value, NaN-ness): `step` i64, `timestamp` i64, the stored value f64 (0 for a NaN,
//! as `metrics` stores it), a flag byte (bit 0: NaN; bit 1: a logged model's id follows) and,
//! when flagged, the model id as a u16 length and UTF-8 bytes; all little-endian. Points
//! logged twice are kept once by the reader (as `metrics`' key kept them once).

use crate::db::{Conn, ValueRef, params};
use crate::{Result, StoreError};

/// The blob format this build writes (and the only one it reads).
const FORMAT: u8 = 1;
const NAN: u8 = 1;
const MODEL: u8 = 2;

/// One point of a history, as stored: a NaN is the value 0 with `is_nan` set.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Point {
    pub(super) step: i64,
    pub(super) timestamp: i64,
    pub(super) value: f64,
    pub(super) is_nan: bool,
    pub(super) model_id: Option<String>,
}

impl Point {
    /// Step, then timestamp, then value (then NaN-ness): the order of `metrics`' key.
    pub(super) fn order(&self, other: &Point) -> std::cmp::Ordering {
        (self.step, self.timestamp)
            .cmp(&(other.step, other.timestamp))
            .then(self.value.total_cmp(&other.value))
            .then(self.is_nan.cmp(&other.is_nan))
    }
}

/// Sorts points in history order and keeps one of each (the first logged of equal points).
pub(super) fn sort_dedup(points: &mut Vec<Point>) {
    points.sort_by(Point::order); // stable: the first logged stays first
    points.dedup_by(|later, earlier| later.order(earlier).is_eq());
}

/// Packs points (already in history order) into a chunk blob.
pub(super) fn encode(points: &[Point]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + points.len() * 25);
    out.push(FORMAT);
    for p in points {
        out.extend_from_slice(&p.step.to_le_bytes());
        out.extend_from_slice(&p.timestamp.to_le_bytes());
        out.extend_from_slice(&p.value.to_le_bytes());
        // Model ids are 32-hex-digit ids; one longer than a u16 length is not stored with its
        // point (the point is; `logged_model_metrics` has the model's own copy).
        let model = p
            .model_id
            .as_deref()
            .filter(|m| u16::try_from(m.len()).is_ok());
        out.push((u8::from(p.is_nan) * NAN) | (u8::from(model.is_some()) * MODEL));
        if let Some(m) = model {
            out.extend_from_slice(&u16::try_from(m.len()).unwrap_or(0).to_le_bytes());
            out.extend_from_slice(m.as_bytes());
        }
    }
    out
}

/// Unpacks a chunk blob onto `out`; a blob that is not one this build wrote is an error that
/// names the history, never a panic or a silently shorter history.
pub(super) fn decode(blob: &[u8], out: &mut Vec<Point>, run_id: &str, key: &str) -> Result<()> {
    let damaged = |why: &str| {
        StoreError::Corrupt(format!(
            "a stored chunk of metric `{key}` of run {run_id} is unreadable ({why})"
        ))
    };
    let (&format, mut rest) = blob.split_first().ok_or_else(|| damaged("empty"))?;
    if format != FORMAT {
        return Err(damaged(&format!(
            "format {format}, this build reads {FORMAT}"
        )));
    }
    // At most one point per 25 bytes: room for all of them at once.
    out.reserve(rest.len() / 25);
    let word = |b: &[u8]| <[u8; 8]>::try_from(b).unwrap_or_default();
    while !rest.is_empty() {
        let head = take(&mut rest, 25).ok_or_else(|| damaged("truncated"))?;
        let step = i64::from_le_bytes(word(&head[0..8]));
        let timestamp = i64::from_le_bytes(word(&head[8..16]));
        let value = f64::from_le_bytes(word(&head[16..24]));
        let flags = head[24];
        if flags & !(NAN | MODEL) != 0 {
            return Err(damaged("unknown point flags"));
        }
        let model_id = if flags & MODEL == 0 {
            None
        } else {
            let len = take(&mut rest, 2).ok_or_else(|| damaged("truncated"))?;
            let len = usize::from(u16::from_le_bytes([len[0], len[1]]));
            let bytes = take(&mut rest, len).ok_or_else(|| damaged("truncated"))?;
            Some(
                std::str::from_utf8(bytes)
                    .map_err(|_| damaged("a model id is not UTF-8"))?
                    .to_owned(),
            )
        };
        out.push(Point {
            step,
            timestamp,
            value,
            is_nan: flags & NAN != 0,
            model_id,
        });
    }
    Ok(())
}

/// The next `n` bytes of `rest`, or `None` when fewer remain.
fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let (head, tail) = rest.split_at_checked(n)?;
    *rest = tail;
    Some(head)
}

/// Every chunked point of one history (`history`, the metric `key` of `run_id`; in no
/// particular order across chunks).
pub(super) fn read(
    conn: &Conn,
    history: i64,
    run_id: &str,
    key: &str,
    out: &mut Vec<Point>,
) -> Result<()> {
    // Each chunk is decoded where it lies in its row, not copied out first.
    let decoded = conn.query_map(
        "SELECT points FROM history_chunks WHERE history_id = ?1",
        params![history],
        |r| {
            r.with_ref(0, |v| match v {
                ValueRef::Blob(blob) => decode(blob, out, run_id, key),
                other => Err(StoreError::Corrupt(format!(
                    "a stored chunk of metric `{key}` of run {run_id} is {}, not a blob",
                    other.kind()
                ))),
            })
        },
    )?;
    decoded.into_iter().collect()
}

/// Writes one history's points (in history order) as a chunk numbered after every chunk before
/// it: a fold's and a batch's chunks share one count, so a number is never used twice.
pub(super) fn write(tx: &Conn, history: i64, points: &[Point]) -> Result<()> {
    let number: i64 = tx.query_row(
        "UPDATE metrics_recent_count SET folds = folds + 1 WHERE id = 1 RETURNING folds",
        (),
        |r| r.get(0),
    )?;
    tx.prepare_cached("INSERT INTO history_chunks (history_id, fold, points) VALUES (?1, ?2, ?3)")?
        .execute(params![history, number, encode(points)])?;
    Ok(())
}

/// Moves every point of `metric_points_recent` into chunks (one row per history, appended
/// after the history's earlier chunks) and empties it.
pub(super) fn fold(tx: &Conn) -> Result<()> {
    let fold: i64 = tx.query_row(
        "UPDATE metrics_recent_count SET n = 0, folds = folds + 1 WHERE id = 1 RETURNING folds",
        (),
        |r| r.get(0),
    )?;
    // History -> points, in id order so the chunks are written in the table's order.
    let mut histories: std::collections::BTreeMap<i64, Vec<Point>> =
        std::collections::BTreeMap::new();
    let rows = tx
        .prepare_cached(
            "SELECT history_id, step, timestamp, value, is_nan, model_id FROM metric_points_recent",
        )?
        .query_map((), |r| {
            Ok((
                r.get::<_, i64>(0)?,
                Point {
                    step: r.get(1)?,
                    timestamp: r.get(2)?,
                    value: r.get(3)?,
                    is_nan: r.get(4)?,
                    model_id: r.get(5)?,
                },
            ))
        })?;
    for row in rows {
        let (history, point) = row?;
        histories.entry(history).or_default().push(point);
    }
    let mut insert = tx.prepare_cached(
        "INSERT INTO history_chunks (history_id, fold, points) VALUES (?1, ?2, ?3)",
    )?;
    for (history, mut points) in histories {
        sort_dedup(&mut points);
        insert.execute(params![history, fold, encode(&points)])?;
    }
    tx.execute("DELETE FROM metric_points_recent", ())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(step: i64, value: f64, model: Option<&str>) -> Point {
        Point {
            step,
            timestamp: 1000 + step,
            value: if value.is_nan() { 0.0 } else { value },
            is_nan: value.is_nan(),
            model_id: model.map(str::to_owned),
        }
    }

    #[test]
    fn chunks_round_trip_every_field() {
        let points = vec![
            p(-3, -1.5, None),
            p(0, f64::NAN, Some("m-0123456789abcdef0123456789abcdef")),
            p(i64::MAX - 1000, f64::INFINITY, None),
            p(7, f64::MIN_POSITIVE, Some("")),
        ];
        let blob = encode(&points);
        let mut back = Vec::new();
        decode(&blob, &mut back, "r", "k").unwrap();
        assert_eq!(back, points);
        // Decoding appends: a second chunk follows the first.
        decode(&blob, &mut back, "r", "k").unwrap();
        assert_eq!(back.len(), 8);
    }

    #[test]
    fn damaged_chunks_are_errors_that_name_the_history() {
        let blob = encode(&[p(1, 2.0, Some("model")), p(2, 3.0, None)]);
        for bad in [
            Vec::new(),
            vec![9],
            blob[..blob.len() - 1].to_vec(),
            blob[..10].to_vec(),
            {
                let mut b = blob.clone();
                b[25] = 0x80; // the first point's flags
                b
            },
        ] {
            let err = decode(&bad, &mut Vec::new(), "run-1", "loss").unwrap_err();
            let text = err.to_string();
            assert!(text.contains("`loss`") && text.contains("run-1"), "{text}");
        }
    }

    #[test]
    fn sorting_keeps_the_first_of_equal_points() {
        let mut points = vec![
            p(2, 1.0, Some("b")),
            p(1, 1.0, None),
            p(2, 1.0, Some("a")),
            p(2, f64::NAN, None),
        ];
        sort_dedup(&mut points);
        let got: Vec<(i64, f64, bool, Option<&str>)> = points
            .iter()
            .map(|p| (p.step, p.value, p.is_nan, p.model_id.as_deref()))
            .collect();
        // A NaN is stored as 0, so it sorts before the value 1 at the same step.
        assert_eq!(
            got,
            [
                (1, 1.0, false, None),
                (2, 0.0, true, None),
                (2, 1.0, false, Some("b"))
            ]
        );
    }
}
