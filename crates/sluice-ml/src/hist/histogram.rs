//! Histograms of per-row statistics over the 256 bins of one feature.
//!
//! Each row carries `stride` statistics: `channels` sums (gradients, or target values, or
//! one-hot class weights), then a hessian (or weight), then optionally a row count. Without the
//! count, the hessian is the count (every row has hessian 1).

use rayon::prelude::*;

use super::binning::{Binned, MISSING_BIN};

/// Bins per feature in a histogram: 255 for values and the last for missing values.
pub(crate) const N_BINS: usize = 256;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    pub(crate) channels: usize,
    /// Whether a separate count follows the hessian.
    pub(crate) count: bool,
}

impl Layout {
    pub(crate) fn stride(self) -> usize {
        self.channels + 1 + usize::from(self.count)
    }

    /// The index of the hessian (or weight) in a row's statistics.
    pub(crate) fn hess(self) -> usize {
        self.channels
    }

    /// The index of the row count (the hessian when there is no separate count).
    pub(crate) fn count(self) -> usize {
        self.stride() - 1
    }
}

/// Adds the statistics of `rows` (`stats` holding theirs in the same order) into `hist`
/// (`N_BINS * stride` values) by their bin in `column`.
pub(crate) fn accumulate(
    hist: &mut [f64],
    column: &[u8],
    rows: &[u32],
    stats: &[f64],
    stride: usize,
) {
    match stride {
        1 => fixed::<1>(hist, column, rows, stats),
        2 => fixed::<2>(hist, column, rows, stats),
        3 => fixed::<3>(hist, column, rows, stats),
        4 => fixed::<4>(hist, column, rows, stats),
        5 => fixed::<5>(hist, column, rows, stats),
        6 => fixed::<6>(hist, column, rows, stats),
        _ => {
            for (&r, s) in rows.iter().zip(stats.chunks_exact(stride)) {
                let b = usize::from(column[r as usize]);
                for (h, v) in hist[b * stride..(b + 1) * stride].iter_mut().zip(s) {
                    *h += v;
                }
            }
        }
    }
}

fn fixed<const S: usize>(hist: &mut [f64], column: &[u8], rows: &[u32], stats: &[f64]) {
    let (hist, _) = hist.as_chunks_mut::<S>();
    let hist: &mut [[f64; S]; N_BINS] = hist.try_into().expect("a histogram has 256 bins");
    let (stats, _) = stats.as_chunks::<S>();
    for (&r, s) in rows.iter().zip(stats) {
        let h = &mut hist[usize::from(column[r as usize])];
        for j in 0..S {
            h[j] += s[j];
        }
    }
}

/// The statistics of `rows` (by row index in `stats`), in order, into `out`.
pub(crate) fn gather(out: &mut Vec<f64>, stats: &[f64], rows: &[u32], stride: usize) {
    // Every value is written below: only a longer buffer's new part is cleared.
    out.truncate(rows.len() * stride);
    out.resize(rows.len() * stride, 0.0);
    if rows.len() >= PARALLEL_GATHER {
        out.par_chunks_mut(PARALLEL_GATHER * stride)
            .zip(rows.par_chunks(PARALLEL_GATHER))
            .for_each(|(o, r)| gather_into(o, stats, r, stride));
    } else {
        gather_into(out, stats, rows, stride);
    }
}

/// Rows per parallel task when gathering many rows.
const PARALLEL_GATHER: usize = 1 << 11;

fn gather_into(out: &mut [f64], stats: &[f64], rows: &[u32], stride: usize) {
    match stride {
        1 => gather_fixed::<1>(out, stats, rows),
        2 => gather_fixed::<2>(out, stats, rows),
        3 => gather_fixed::<3>(out, stats, rows),
        4 => gather_fixed::<4>(out, stats, rows),
        5 => gather_fixed::<5>(out, stats, rows),
        6 => gather_fixed::<6>(out, stats, rows),
        _ => {
            for (o, &r) in out.chunks_exact_mut(stride).zip(rows) {
                let r = r as usize;
                o.copy_from_slice(&stats[r * stride..(r + 1) * stride]);
            }
        }
    }
}

fn gather_fixed<const S: usize>(out: &mut [f64], stats: &[f64], rows: &[u32]) {
    let (out, _) = out.as_chunks_mut::<S>();
    let (stats, _) = stats.as_chunks::<S>();
    for (o, &r) in out.iter_mut().zip(rows) {
        *o = stats[r as usize];
    }
}

/// A sort key: the bin above bit 32, the row's position in its node below.
pub(crate) fn pack(bin: u8, position: usize) -> u64 {
    (u64::from(bin) << 32) | position as u64
}

/// The sort keys ([`pack`]) of `rows` by their bin in `column`, in order, into `keys`: a counting
/// sort by bin, each bin's rows in position order, as sorting the packed keys would order them.
pub(crate) fn sorted_keys(keys: &mut Vec<u64>, column: &[u8], rows: &[u32]) {
    let mut starts = [0usize; N_BINS + 1];
    for &r in rows {
        starts[usize::from(column[r as usize]) + 1] += 1;
    }
    for b in 1..=N_BINS {
        starts[b] += starts[b - 1];
    }
    keys.clear();
    keys.resize(rows.len(), 0);
    for (i, &r) in rows.iter().enumerate() {
        let bin = column[r as usize];
        let at = &mut starts[usize::from(bin)];
        keys[*at] = pack(bin, i);
        *at += 1;
    }
}

#[expect(
    clippy::cast_possible_truncation,
    reason = "unpacks what `pack` stored: a u8 above bit 32, a u32 below"
)]
fn unpack(key: u64) -> (u8, usize) {
    ((key >> 32) as u8, (key as u32) as usize)
}

/// The sparse histogram of a small node: `keys` (from [`pack`], sorted) grouped by bin into
/// `bins` and `sums` (one stride per bin, rows added in position order) and `missing`.
pub(crate) fn group_sorted(
    keys: &[u64],
    stats: &[f64],
    stride: usize,
    bins: &mut Vec<u8>,
    sums: &mut Vec<f64>,
    missing: &mut [f64],
) {
    bins.clear();
    sums.clear();
    match stride {
        2 => group_fixed::<2>(keys, stats, bins, sums, missing),
        3 => group_fixed::<3>(keys, stats, bins, sums, missing),
        4 => group_fixed::<4>(keys, stats, bins, sums, missing),
        5 => group_fixed::<5>(keys, stats, bins, sums, missing),
        _ => {
            missing.fill(0.0);
            for &key in keys {
                let (bin, i) = unpack(key);
                let s = &stats[i * stride..(i + 1) * stride];
                let target = if bin == MISSING_BIN {
                    &mut missing[..]
                } else {
                    if bins.last() != Some(&bin) {
                        bins.push(bin);
                        sums.resize(sums.len() + stride, 0.0);
                    }
                    let at = sums.len() - stride;
                    &mut sums[at..]
                };
                for (t, v) in target.iter_mut().zip(s) {
                    *t += v;
                }
            }
        }
    }
}

fn group_fixed<const S: usize>(
    keys: &[u64],
    stats: &[f64],
    bins: &mut Vec<u8>,
    sums: &mut Vec<f64>,
    missing: &mut [f64],
) {
    let (stats, _) = stats.as_chunks::<S>();
    let mut miss = [0.0; S];
    // The open group stays in registers until the next bin starts.
    let mut current: Option<(u8, [f64; S])> = None;
    for &key in keys {
        let (bin, i) = unpack(key);
        let s = stats[i];
        if bin == MISSING_BIN {
            for j in 0..S {
                miss[j] += s[j];
            }
            continue;
        }
        match &mut current {
            Some((b, acc)) if *b == bin => {
                for j in 0..S {
                    acc[j] += s[j];
                }
            }
            _ => {
                if let Some((b, acc)) = current {
                    bins.push(b);
                    sums.extend_from_slice(&acc);
                }
                current = Some((bin, s));
            }
        }
    }
    if let Some((b, acc)) = current {
        bins.push(b);
        sums.extend_from_slice(&acc);
    }
    missing.copy_from_slice(&miss);
}

/// [`accumulate`] for every row in order (`stats` holding every row's statistics).
pub(crate) fn accumulate_dense(hist: &mut [f64], column: &[u8], stats: &[f64], stride: usize) {
    fn fixed<const S: usize>(hist: &mut [f64], column: &[u8], stats: &[f64]) {
        let (hist, _) = hist.as_chunks_mut::<S>();
        let hist: &mut [[f64; S]; N_BINS] = hist.try_into().expect("a histogram has 256 bins");
        let (stats, _) = stats.as_chunks::<S>();
        for (&b, s) in column.iter().zip(stats) {
            let h = &mut hist[usize::from(b)];
            for j in 0..S {
                h[j] += s[j];
            }
        }
    }
    match stride {
        2 => fixed::<2>(hist, column, stats),
        3 => fixed::<3>(hist, column, stats),
        4 => fixed::<4>(hist, column, stats),
        _ => {
            for (&b, s) in column.iter().zip(stats.chunks_exact(stride)) {
                let b = usize::from(b);
                for (h, v) in hist[b * stride..(b + 1) * stride].iter_mut().zip(s) {
                    *h += v;
                }
            }
        }
    }
}

/// Which rows a row-wise histogram build adds.
#[derive(Clone, Copy)]
pub(crate) enum Rows<'a> {
    /// Every row of a range, in order.
    Range(usize, usize),
    /// These rows (ascending), read in batches copied together first: rows scattered through the
    /// data miss the cache, and a tight copying loop keeps many misses in flight at once where the
    /// histogram loop would wait on each.
    Listed(&'a [u32]),
}

/// Rows copied together before they are added.
const BATCH: usize = 256;

/// Every row's statistics and bins side by side, for building every feature's histogram row by
/// row: a row is read at one place (one cache line, mostly) instead of one place per feature and
/// one for its statistics. A row is `stride - 1` statistics (as `f64` bits; the last statistic,
/// a hessian or count, is 1 for every row and not stored) and then one byte per [`Slot`], eight
/// to a word.
///
/// Features of few bins share a slot: its byte codes their bins together, so a row adds one
/// histogram entry for all of them, and each one's histogram is the sum of the joint one's
/// entries over the others' bins ([`RowMatrix::expand`]). On the taxi data's 12 features (four
/// one-hot columns, the passenger count, the hour and the weekday among them) a row adds 7
/// entries instead of 12 and takes 16 bytes instead of 24.
pub(crate) struct RowMatrix {
    words: Vec<u64>,
    stats: usize,
    bin_words: usize,
    slots: Vec<Slot>,
    /// Whether some slot holds more than one feature (else slot `i` is feature `i`).
    joint: bool,
}

/// One byte of a packed row: a feature's bin, or the features of `members` coded together.
struct Slot {
    members: Vec<Member>,
}

/// A feature of a slot. In a joint slot its digit (its bin, or `n_bins` for a missing value)
/// times `scale` is its part of the slot's code; alone in a slot, its bin is the code.
#[derive(Clone, Copy)]
struct Member {
    feature: usize,
    n_bins: u8,
    /// Digits it takes: its bins in use, one more when it has missing values.
    radix: usize,
    scale: usize,
}

impl Slot {
    fn code(&self, columns: &[Vec<u8>], row: usize) -> u8 {
        if let [only] = self.members[..] {
            return columns[only.feature][row];
        }
        let code: usize = self
            .members
            .iter()
            .map(|m| {
                let b = columns[m.feature][row];
                let digit = if b == MISSING_BIN { m.n_bins } else { b };
                usize::from(digit) * m.scale
            })
            .sum();
        u8::try_from(code).expect("a joint slot codes at most 256 combinations")
    }

    /// The codes a joint slot takes: the product of its members' radices.
    fn codes(&self) -> usize {
        self.members.iter().map(|m| m.radix).product()
    }

    /// Histogram entries the slot may touch.
    fn size(&self) -> usize {
        match self.members[..] {
            [only] => usize::from(only.n_bins) + 1,
            _ => self.codes(),
        }
    }
}

/// The slots of features with `n_bins` bins in use: features by most digits first, each into the
/// first slot it fits (at most 256 codes), else into a slot of its own.
fn plan_slots(columns: &[Vec<u8>], n_bins: &[u8]) -> Vec<Slot> {
    let mut members: Vec<Member> = columns
        .iter()
        .zip(n_bins)
        .enumerate()
        .map(|(feature, (column, &n))| Member {
            feature,
            n_bins: n,
            radix: (usize::from(n) + usize::from(column.contains(&MISSING_BIN))).max(1),
            scale: 1,
        })
        .collect();
    members.sort_by_key(|m| (std::cmp::Reverse(m.radix), m.feature));
    let mut slots: Vec<Slot> = Vec::new();
    for m in members {
        match slots.iter_mut().find(|s| s.codes() * m.radix <= N_BINS) {
            Some(slot) => {
                let scale = slot.codes();
                slot.members.push(Member { scale, ..m });
            }
            None => slots.push(Slot { members: vec![m] }),
        }
    }
    // Slots in the order of their first feature.
    slots.sort_by_key(|s| s.members.iter().map(|m| m.feature).min());
    slots
}

impl RowMatrix {
    /// The bins of `binned` (every row) packed by slots, statistics zero until
    /// [`fill_stats`]; `None` when histograms of its slots would not stay small enough to be worth
    /// building row by row.
    pub(crate) fn new(binned: &Binned, stride: usize) -> Option<Self> {
        let slots = plan_slots(&binned.columns, &binned.n_bins);
        // Without features the rows could not be counted from the columns.
        (!slots.is_empty() && Self::pays(slots.iter().map(Slot::size), stride))
            .then(|| Self::pack(&binned.columns, slots, stride))
    }

    fn pack(columns: &[Vec<u8>], slots: Vec<Slot>, stride: usize) -> Self {
        let joint = slots.iter().any(|s| s.members.len() > 1);
        let n = columns.first().map_or(0, Vec::len);
        let stats = stride - 1;
        let bin_words = slots.len().div_ceil(8);
        let width = stats + bin_words;
        let mut words = vec![0u64; n * width];
        if width > 0 {
            words
                .par_chunks_mut(crate::par::CHUNK * width)
                .enumerate()
                .for_each(|(c, out)| {
                    let first = c * crate::par::CHUNK;
                    for (i, row) in out.chunks_exact_mut(width).enumerate() {
                        for (w, group) in row[stats..].iter_mut().zip(slots.chunks(8)) {
                            let mut bytes = [0u8; 8];
                            for (b, slot) in bytes.iter_mut().zip(group) {
                                *b = slot.code(columns, first + i);
                            }
                            *w = u64::from_le_bytes(bytes);
                        }
                    }
                });
        }
        RowMatrix {
            words,
            stats,
            bin_words,
            slots,
            joint,
        }
    }

    /// Every row's words (statistics then slots) and the words of a row; `None` when a row has
    /// none.
    pub(crate) fn words_mut(&mut self) -> Option<(&mut [u64], usize)> {
        let width = self.width();
        (width > 0).then_some((&mut self.words[..], width))
    }

    fn width(&self) -> usize {
        self.stats + self.bin_words
    }

    pub(crate) fn n_rows(&self) -> usize {
        self.words.len().checked_div(self.width()).unwrap_or(0)
    }

    /// The statistics of `rows`, in order, into `out` (`stride` values a row, the last 1).
    pub(crate) fn gather_stats(&self, out: &mut Vec<f64>, rows: &[u32]) {
        let (k, width) = (self.stats, self.width());
        let stride = k + 1;
        // Every value is written below: only a longer buffer's new part is cleared.
        out.truncate(rows.len() * stride);
        out.resize(rows.len() * stride, 1.0);
        let fill = |(out, rows): (&mut [f64], &[u32])| {
            for (o, &r) in out.chunks_exact_mut(stride).zip(rows) {
                let at = r as usize * width;
                for (v, w) in o.iter_mut().zip(&self.words[at..at + k]) {
                    *v = f64::from_bits(*w);
                }
                o[k] = 1.0;
            }
        };
        if rows.len() >= PARALLEL_GATHER {
            out.par_chunks_mut(PARALLEL_GATHER * stride)
                .zip(rows.par_chunks(PARALLEL_GATHER))
                .for_each(fill);
        } else {
            fill((out, rows));
        }
    }

    /// The sums of the statistics of `rows`, over fixed chunks added in order.
    pub(crate) fn sums(&self, rows: &[u32]) -> Vec<f64> {
        let (k, width) = (self.stats, self.width());
        crate::par::chunked(
            rows.len(),
            |range| {
                let mut s = vec![0.0; k + 1];
                for &r in &rows[range] {
                    let at = r as usize * width;
                    for (a, w) in s.iter_mut().zip(&self.words[at..at + k]) {
                        *a += f64::from_bits(*w);
                    }
                    s[k] += 1.0;
                }
                s
            },
            crate::par::add_into,
        )
        .unwrap_or_else(|| vec![0.0; k + 1])
    }

    /// Whether some features share a slot, so that histograms are built by slot into a buffer of
    /// [`RowMatrix::slot_len`] values and then [expanded](RowMatrix::expand); else they are
    /// built straight into the features' histograms.
    pub(crate) fn joint(&self) -> bool {
        self.joint
    }

    /// The number of slots.
    pub(crate) fn n_slots(&self) -> usize {
        self.slots.len()
    }

    /// The values of the slots' histograms (`N_BINS * stride` each).
    pub(crate) fn slot_len(&self) -> usize {
        self.slots.len() * N_BINS * (self.stats + 1)
    }

    /// Every feature's histogram (`hists`, feature after feature) from the slots' (`slot_hists`,
    /// slot after slot).
    pub(crate) fn expand(&self, slot_hists: &[f64], hists: &mut [f64]) {
        let stride = self.stats + 1;
        let len = N_BINS * stride;
        for (slot, joint) in self.slots.iter().zip(slot_hists.chunks_exact(len)) {
            if let [only] = slot.members[..] {
                hists[only.feature * len..(only.feature + 1) * len].copy_from_slice(joint);
                continue;
            }
            for m in &slot.members {
                let h = &mut hists[m.feature * len..(m.feature + 1) * len];
                h.fill(0.0);
                for (code, entry) in joint.chunks_exact(stride).take(slot.codes()).enumerate() {
                    let digit = (code / m.scale) % m.radix;
                    let bin = if digit == usize::from(m.n_bins) {
                        usize::from(MISSING_BIN)
                    } else {
                        digit
                    };
                    for (t, v) in h[bin * stride..(bin + 1) * stride].iter_mut().zip(entry) {
                        *t += v;
                    }
                }
            }
        }
    }

    /// Adds the statistics of `rows` into the histograms of every slot (`hists`: slot after
    /// slot, `N_BINS * stride` values each; without joint slots, the features' histograms).
    pub(crate) fn accumulate(&self, hists: &mut [f64], rows: Rows<'_>) {
        self.accumulate_slots(hists, 0, rows);
    }

    /// [`RowMatrix::accumulate`] into the histograms of the slots from `first` on only
    /// (`hists`: as many slots' as it holds). Each slot's sums are the same however the slots
    /// are divided.
    pub(crate) fn accumulate_slots(&self, hists: &mut [f64], first: usize, rows: Rows<'_>) {
        debug_assert!(
            first + hists.len() / (N_BINS * (self.stats + 1)) <= self.slots.len(),
            "no more slots than the rows pack"
        );
        macro_rules! fixed {
            ($($s:literal, $w:literal => $r:literal),*) => {
                match (self.stats + 1, self.bin_words) {
                    $(($s, $w) => packed::<$s, $w, $r>(hists, first, &self.words, rows),)*
                    _ => self.accumulate_any(hists, first, rows),
                }
            };
        }
        fixed!(2, 1 => 2, 2, 2 => 3, 2, 3 => 4, 2, 4 => 5, 3, 1 => 3, 3, 2 => 4, 3, 3 => 5, 3, 4 => 6);
    }

    fn accumulate_any(&self, hists: &mut [f64], first: usize, rows: Rows<'_>) {
        let (k, width) = (self.stats, self.stats + self.bin_words);
        let stride = k + 1;
        let mut s = vec![1.0; stride];
        let slots = hists.len() / (N_BINS * stride);
        let mut add = |r: usize| {
            let row = &self.words[r * width..(r + 1) * width];
            for (v, w) in s.iter_mut().zip(&row[..k]) {
                *v = f64::from_bits(*w);
            }
            let bins = row[k..].iter().flat_map(|w| w.to_le_bytes());
            for (slot, b) in bins.skip(first).take(slots).enumerate() {
                let at = (slot * N_BINS + usize::from(b)) * stride;
                for (h, v) in hists[at..at + stride].iter_mut().zip(&s) {
                    *h += v;
                }
            }
        };
        match rows {
            Rows::Range(a, b) => (a..b).for_each(add),
            Rows::Listed(rows) => rows.iter().for_each(|&r| add(r as usize)),
        }
    }
}

/// Histograms of every feature built row by row pay off while they stay small: each row then
/// updates every feature's histogram, and with many bins in use they no longer fit the fastest
/// cache (feature by feature, one histogram at a time does). Measured on this project's machine:
/// 12 taxi features (one byte each then, about 1,300 bins in use, 21 KB) built 1.4x faster row
/// by row; 20 uniform features of 255 bins each (82 KB) 6% slower then, and 40% slower with
/// their statistics only in the packed rows (2026-12-07).
const ROW_WISE_MAX_BYTES: usize = 32 << 10;

impl RowMatrix {
    /// Whether histograms of slots touching `sizes` entries each, of `stride` statistics, are
    /// better built row by row.
    fn pays(sizes: impl Iterator<Item = usize>, stride: usize) -> bool {
        sizes.sum::<usize>() * stride * size_of::<f64>() <= ROW_WISE_MAX_BYTES
    }
}

/// Sets every row's statistics: `stat(row, s)` fills row `row`'s `stride` values, into `packed`
/// when given (the last of them must then be 1; `stats` is not used and may be empty), else into
/// `stats`.
pub(crate) fn fill_stats(
    stats: &mut [f64],
    stride: usize,
    packed: Option<&mut RowMatrix>,
    stat: impl Fn(usize, &mut [f64]) + Sync,
) {
    let chunk = crate::par::CHUNK;
    let Some(packed) = packed else {
        stats
            .par_chunks_mut(chunk * stride)
            .enumerate()
            .for_each(|(c, s)| {
                for (i, row) in s.chunks_exact_mut(stride).enumerate() {
                    stat(c * chunk + i, row);
                }
            });
        return;
    };
    let (k, width) = (packed.stats, packed.width());
    debug_assert_eq!(k + 1, stride);
    if width == 0 {
        return;
    }
    packed
        .words
        .par_chunks_mut(chunk * width)
        .enumerate()
        .for_each(|(c, rows)| {
            let mut row = vec![0.0; stride];
            for (i, words) in rows.chunks_exact_mut(width).enumerate() {
                stat(c * chunk + i, &mut row);
                debug_assert!(
                    row[k].to_bits() == 1.0f64.to_bits(),
                    "the last statistic of a row is 1"
                );
                for (w, v) in words.iter_mut().zip(&row[..k]) {
                    *w = v.to_bits();
                }
            }
        });
}

/// [`RowMatrix::accumulate`] for `S` statistics a row (`S - 1` stored) and rows of `R` words.
fn packed<const S: usize, const W: usize, const R: usize>(
    hists: &mut [f64],
    first: usize,
    matrix: &[u64],
    rows: Rows<'_>,
) {
    let k = S - 1;
    let (hists, _) = hists.as_chunks_mut::<S>();
    let (hists, _) = hists.as_chunks_mut::<N_BINS>();
    let (matrix, _) = matrix.as_chunks::<R>();
    let add = |hists: &mut [[[f64; S]; N_BINS]], row: &[u64; R]| {
        let mut s = [1.0; S];
        for (v, w) in s.iter_mut().zip(&row[..k]) {
            *v = f64::from_bits(*w);
        }
        let bins: [[u8; 8]; W] = std::array::from_fn(|i| row[k + i].to_le_bytes());
        for (h, &b) in hists.iter_mut().zip(&bins.as_flattened()[first..]) {
            let e = &mut h[usize::from(b)];
            for j in 0..S {
                e[j] += s[j];
            }
        }
    };
    match rows {
        Rows::Range(a, b) => {
            for row in &matrix[a..b] {
                add(hists, row);
            }
        }
        Rows::Listed(rows) => {
            let mut batch = [[0u64; R]; BATCH];
            for part in rows.chunks(BATCH) {
                for (&r, b) in part.iter().zip(&mut batch) {
                    *b = matrix[r as usize];
                }
                for row in &batch[..part.len()] {
                    add(hists, row);
                }
            }
        }
    }
}

/// `parent -= child`, leaving the sibling's histogram in `parent`.
pub(crate) fn subtract(parent: &mut [f64], child: &[f64]) {
    for (p, c) in parent.iter_mut().zip(child) {
        *p -= c;
    }
}

/// Columns of `n` rows of random bins, `n_bins` of them a feature (and missing values where
/// `missing(n_bins)`), for tests.
#[cfg(test)]
pub(crate) fn random_columns(
    rng: &mut crate::rng::Rng,
    n: usize,
    n_bins: &[u8],
    missing: impl Fn(u8) -> bool,
) -> Vec<Vec<u8>> {
    n_bins
        .iter()
        .map(|&bins| {
            let drawn = usize::from(bins) + usize::from(missing(bins));
            (0..n)
                .map(|_| match u8::try_from(rng.below(drawn)).unwrap() {
                    b if b == bins => MISSING_BIN,
                    b => b,
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Row by row, from the packed matrix, the histograms equal those built feature by feature,
    /// for every packed width (1 to 4 words of slots, and wider), both layouts boosting uses, all
    /// rows in order and rows listed (more than one batch), features of few bins sharing slots
    /// (with and without missing values) and features of all bins alone, the slots summed all
    /// at once or in groups. Statistics are small integers, so the sums are exact whatever the
    /// order.
    #[test]
    fn row_by_row_equals_feature_by_feature() {
        let mut rng = crate::rng::Rng::new(7);
        // Features of few bins sharing slots (1 to 6 words of slots), or all of 255 bins and
        // missing values, each alone in its slot (1 to 5 words).
        let cases = [1, 8, 12, 20, 32, 41, 90]
            .map(|f| (f, false))
            .into_iter()
            .chain([(8, true), (12, true), (20, true), (29, true), (33, true)]);
        for (n_features, wide) in cases {
            for stride in [2, 3] {
                let n = 700;
                // Three bins and missing values; two bins; all 255 bins and missing values.
                let n_bins: Vec<u8> = (0..n_features)
                    .map(|f| if wide { 255 } else { [3, 2, 255][f % 3] })
                    .collect();
                // Missing values but in features of two bins.
                let columns = random_columns(&mut rng, n, &n_bins, |bins| bins != 2);
                let binned = Binned {
                    columns: columns.clone(),
                    n_bins: n_bins.clone(),
                };
                let slots = plan_slots(&binned.columns, &binned.n_bins);
                assert!(slots.iter().all(|s| s.codes() <= N_BINS));
                let mut packed = RowMatrix::pack(&binned.columns, slots, stride);
                assert_eq!(
                    packed.joint(),
                    !wide && n_features > 1,
                    "{n_features} features"
                );
                let stat = |row: usize, s: &mut [f64]| {
                    for (j, v) in s.iter_mut().enumerate() {
                        *v = if j + 1 == stride {
                            1.0
                        } else {
                            f64::from(u32::try_from((row * 7 + j * 3) % 11).unwrap()) - 5.0
                        };
                    }
                };
                let mut stats = vec![0.0; n * stride];
                fill_stats(&mut stats, stride, None, stat);
                fill_stats(&mut [], stride, Some(&mut packed), stat);
                let listed: Vec<u32> = (0..u32::try_from(n).unwrap())
                    .filter(|r| r % 3 != 1)
                    .collect();
                // The packed statistics are the plain ones.
                let mut from_packed = Vec::new();
                packed.gather_stats(&mut from_packed, &listed);
                let mut from_plain = Vec::new();
                gather(&mut from_plain, &stats, &listed, stride);
                assert!(from_packed == from_plain);
                let plain_sums =
                    from_plain
                        .chunks_exact(stride)
                        .fold(vec![0.0; stride], |mut a, s| {
                            a.iter_mut().zip(s).for_each(|(a, s)| *a += s);
                            a
                        });
                assert!(packed.sums(&listed) == plain_sums);
                let len = N_BINS * stride;
                for rows in [
                    Rows::Range(0, n),
                    Rows::Range(100, 650),
                    Rows::Listed(&listed),
                ] {
                    let mut by_slots = vec![0.0; packed.slot_len()];
                    packed.accumulate(&mut by_slots, rows);
                    // The slots divided in groups (as threads take them) give the same sums.
                    let per_slot = packed.slot_len() / packed.n_slots();
                    for group in 1..=packed.n_slots() {
                        let mut grouped = vec![0.0; packed.slot_len()];
                        for (g, h) in grouped.chunks_mut(group * per_slot).enumerate() {
                            packed.accumulate_slots(h, g * group, rows);
                        }
                        assert!(grouped == by_slots, "{group} slots a group");
                    }
                    let mut by_rows = vec![f64::NAN; n_features * len];
                    packed.expand(&by_slots, &mut by_rows);
                    let chosen: Vec<u32> = match rows {
                        Rows::Range(a, b) => {
                            (u32::try_from(a).unwrap()..u32::try_from(b).unwrap()).collect()
                        }
                        Rows::Listed(r) => r.to_vec(),
                    };
                    for (f, column) in columns.iter().enumerate() {
                        let mut expected = vec![0.0; len];
                        let gathered: Vec<f64> = chosen
                            .iter()
                            .flat_map(|&r| {
                                stats[r as usize * stride..(r as usize + 1) * stride].to_vec()
                            })
                            .collect();
                        accumulate(&mut expected, column, &chosen, &gathered, stride);
                        assert!(
                            by_rows[f * len..(f + 1) * len] == expected[..],
                            "feature {f} of {n_features}, stride {stride}"
                        );
                    }
                }
            }
        }
    }

    /// The taxi data's features (by their bins in use): the few-binned ones share two slots, so
    /// a row packs in one word; a slot never codes more than 256 combinations.
    #[test]
    fn few_binned_features_share_slots() {
        let n_bins: [u8; 12] = [2, 2, 6, 255, 255, 255, 255, 255, 24, 7, 2, 2];
        let columns: Vec<Vec<u8>> = n_bins.iter().map(|&b| vec![b - 1; 4]).collect();
        let slots = plan_slots(&columns, &n_bins);
        assert_eq!(slots.len(), 7);
        let members: Vec<Vec<usize>> = slots
            .iter()
            .map(|s| {
                let mut f: Vec<usize> = s.members.iter().map(|m| m.feature).collect();
                f.sort_unstable();
                f
            })
            .collect();
        assert_eq!(
            members,
            [
                vec![0, 1, 2, 10, 11],
                vec![3],
                vec![4],
                vec![5],
                vec![6],
                vec![7],
                vec![8, 9]
            ]
        );
        assert!(slots.iter().all(|s| s.codes() <= N_BINS));
        // A missing value takes a digit of its own: 255 bins and missing values stay alone.
        let mut with_missing = columns.clone();
        with_missing[8][0] = MISSING_BIN;
        with_missing[9][0] = MISSING_BIN;
        let slots = plan_slots(&with_missing, &n_bins);
        let joint = slots
            .iter()
            .find(|s| s.members.iter().any(|m| m.feature == 8));
        assert_eq!(joint.unwrap().codes(), 25 * 8);
    }

    /// The counting sort orders keys as sorting them does (bins repeated, missing, every bin).
    #[test]
    fn counting_sort_orders_keys_as_sorting_does() {
        let mut rng = crate::rng::Rng::new(3);
        for (n, bins) in [(0, 2), (1, 2), (200, 3), (255, 256), (3000, 256)] {
            let column: Vec<u8> = (0..n + 50)
                .map(|_| u8::try_from(rng.below(bins)).unwrap())
                .collect();
            let rows: Vec<u32> = (0..u32::try_from(n + 50).unwrap())
                .filter(|_| rng.below(6) != 0)
                .take(n)
                .collect();
            let mut expected: Vec<u64> = rows
                .iter()
                .enumerate()
                .map(|(i, &r)| pack(column[r as usize], i))
                .collect();
            expected.sort_unstable();
            let mut keys = vec![7; 3];
            sorted_keys(&mut keys, &column, &rows);
            assert_eq!(keys, expected, "{n} rows");
        }
    }

    #[test]
    fn accumulates_by_bin_and_subtracts() {
        let column = [0u8, 2, 2, 255];
        let stats = [1.0, 1.0, 2.0, 1.0, 3.0, 1.0, 4.0, 1.0];
        let mut all = vec![0.0; N_BINS * 2];
        accumulate(&mut all, &column, &[0, 1, 2, 3], &stats, 2);
        assert_eq!(&all[..6], [1.0, 1.0, 0.0, 0.0, 5.0, 2.0]);
        assert_eq!(&all[255 * 2..], [4.0, 1.0]);
        let mut part = vec![0.0; N_BINS * 2];
        accumulate(&mut part, &column, &[1, 3], &[2.0, 1.0, 4.0, 1.0], 2);
        subtract(&mut all, &part);
        assert_eq!(&all[..6], [1.0, 1.0, 0.0, 0.0, 3.0, 1.0]);
        assert_eq!(&all[255 * 2..], [0.0, 0.0]);
    }
}
