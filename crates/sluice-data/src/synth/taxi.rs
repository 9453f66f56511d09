//! A synthetic NYC-taxi-style dataset: predict `fare_amount` from the trip.

use super::random::{normal, weighted};
use crate::time::format_datetime;
use crate::{Column, Table};

/// 2016-01-01T00:00:00 UTC, a Friday: the trips are in January 2016.
const MONTH_START: i64 = 1_451_606_400;
/// Monday = 0, as pandas' `dt.weekday`.
const FIRST_WEEKDAY: u32 = 4;

/// Relative pickups per hour of the day (quiet before dawn, busy in the evening).
const HOUR_WEIGHTS: [f64; 24] = [
    3.5, 2.6, 1.9, 1.4, 1.0, 1.0, 2.2, 3.6, 4.4, 4.5, 4.3, 4.4, 4.7, 4.7, 4.9, 4.7, 4.2, 5.0, 6.0,
    6.2, 5.8, 5.7, 5.5, 4.6,
];
/// Relative frequency of 1 to 6 passengers.
const PASSENGER_WEIGHTS: [f64; 6] = [70.0, 14.0, 4.0, 2.0, 6.0, 4.0];

/// Manhattan's axis, from the Battery to Inwood (latitude, longitude).
const AXIS_START: (f64, f64) = (40.703, -74.016);
const AXIS_END: (f64, f64) = (40.872, -73.920);
/// Half the island's width, in km, across its axis.
const HALF_WIDTH_KM: f64 = 1.6;
const KM_PER_DEGREE_LAT: f64 = 111.0;
const KM_PER_DEGREE_LON: f64 = 84.2; // at 40.75° N
const JFK: (f64, f64) = (40.6413, -73.7781);
const LAGUARDIA: (f64, f64) = (40.7769, -73.8740);
const BROOKLYN: (f64, f64) = (40.6782, -73.9442);

/// Minimum fare, also the flag drop.
const MIN_FARE: f64 = 2.5;
/// The flat fare between Manhattan and JFK.
const JFK_FLAT: f64 = 52.0;

/// `rows` synthetic taxi trips in Manhattan in January 2016; the same `(rows, seed)` always
/// gives the same table.
///
/// Columns (text unless said):
///
/// - `vendor`: `CMT` (47%) or `VTS`.
/// - `pickup_datetime`: ISO 8601 (`2016-01-05T08:23:11`), any day of the month, hours weighted
///   like real pickups (few before dawn, most in the evening).
/// - `passenger_count` (number): 1 to 6, mostly 1.
/// - `pickup_longitude`, `pickup_latitude` (numbers): in Manhattan, mostly Midtown and
///   downtown.
/// - `dropoff_longitude`, `dropoff_latitude` (numbers): 3% at JFK, 2.5% at `LaGuardia`, 6% in
///   Brooklyn, the rest in Manhattan.
/// - `trip_distance` (number, miles): the straight-line distance × 1.35 (the road factor) ×
///   (1 + N(0, 0.08)), at least 0.1.
/// - `pickup_hour` (0–23), `pickup_weekday` (0 = Monday … 6 = Sunday): numbers, from
///   `pickup_datetime`.
/// - `store_and_fwd_flag`: `Y` for 2% of `CMT` trips, else `N`.
/// - `fare_amount` (number, the target), nonlinear in the features:
///   - JFK trips: the flat 52, plus 4.50 on weekdays 16–20 h;
///   - other trips: 2.50 + the distance charge (2.50 a mile for the first 5 miles, 2.20 up to
///     12, 1.90 beyond) + 0.35 a minute of slow traffic (the trip's minutes at the hour's
///     speed — 9 mph in the rush hours, 20 at night, faster on weekends, × a random factor — times
///     the hour's share of slow traffic), + 0.50 from 20 h to 6 h, + 1 on weekdays 16–20 h;
///   - `VTS` charges 1.5% + 0.30 more;
///   - plus N(0, 0.6) noise, rounded to 0.50 and clipped at the 2.50 minimum.
///
/// No value is missing.
#[must_use]
pub fn taxi(rows: usize, seed: u64) -> Table {
    let mut all = Table::default();
    for part in TaxiParts::new(rows, seed) {
        if all.n_columns() == 0 {
            all = part;
        } else {
            all.append_rows(&part);
        }
    }
    all
}

/// The rows of [`taxi`]`(rows, seed)` made a part at a time (at most
/// [`PART_ROWS`](crate::PART_ROWS) rows each; one empty part for no rows), so any number of
/// rows can be written without holding them all.
pub struct TaxiParts {
    rng: fastrand::Rng,
    left: usize,
    started: bool,
}

impl TaxiParts {
    #[must_use]
    pub fn new(rows: usize, seed: u64) -> TaxiParts {
        TaxiParts {
            rng: fastrand::Rng::with_seed(seed),
            left: rows,
            started: false,
        }
    }
}

impl Iterator for TaxiParts {
    type Item = Table;

    fn next(&mut self) -> Option<Table> {
        if self.started && self.left == 0 {
            return None;
        }
        self.started = true;
        let n = self.left.min(crate::PART_ROWS);
        self.left -= n;
        let mut c = Columns::with_capacity(n);
        for _ in 0..n {
            c.push(&trip(&mut self.rng));
        }
        Some(c.into_table())
    }
}

struct Trip {
    vendor: &'static str,
    pickup_datetime: String,
    passengers: f64,
    pickup: (f64, f64),
    dropoff: (f64, f64),
    distance: f64,
    hour: u32,
    weekday: u32,
    store_and_fwd: bool,
    fare: f64,
}

#[derive(Clone, Copy, PartialEq)]
enum Destination {
    Manhattan,
    Jfk,
    LaGuardia,
    Brooklyn,
}

fn trip(rng: &mut fastrand::Rng) -> Trip {
    let vendor = if rng.f64() < 0.47 { "CMT" } else { "VTS" };
    let day = rng.u32(0..31);
    let hour = u32::try_from(weighted(rng, &HOUR_WEIGHTS)).unwrap_or(0);
    let seconds = i64::from(day) * 86_400 + i64::from(hour) * 3_600 + i64::from(rng.u32(0..3_600));
    let weekday = (day + FIRST_WEEKDAY) % 7;
    let passengers = (weighted(rng, &PASSENGER_WEIGHTS) + 1) as f64;

    // Midtown, downtown or uptown, as a position along the island's axis.
    let t = match weighted(rng, &[60.0, 25.0, 15.0]) {
        0 => 0.35 + 0.08 * normal(rng),
        1 => 0.12 + 0.06 * normal(rng),
        _ => 0.45 + 0.4 * rng.f64(),
    };
    let pickup = on_island(t, rng.f64() * 2.0 - 1.0);
    let destination = match weighted(rng, &[88.5, 3.0, 2.5, 6.0]) {
        1 => Destination::Jfk,
        2 => Destination::LaGuardia,
        3 => Destination::Brooklyn,
        _ => Destination::Manhattan,
    };
    let dropoff = match destination {
        Destination::Jfk => jitter(rng, JFK, 0.004),
        Destination::LaGuardia => jitter(rng, LAGUARDIA, 0.003),
        Destination::Brooklyn => jitter(rng, BROOKLYN, 0.025),
        Destination::Manhattan => {
            let sign = if rng.bool() { 1.0 } else { -1.0 };
            let along = sign * 0.1 * -(1.0 - rng.f64()).ln();
            on_island(t + along, rng.f64() * 2.0 - 1.0)
        }
    };
    let distance = round_to(
        (miles(pickup, dropoff) * 1.35 * (1.0 + 0.08 * normal(rng))).max(0.1),
        0.01,
    );

    let weekend = weekday >= 5;
    let evening_peak = !weekend && (16..20).contains(&hour);
    let mut fare = if destination == Destination::Jfk {
        JFK_FLAT + if evening_peak { 4.5 } else { 0.0 }
    } else {
        let (mph, slow_share) = traffic(hour, weekend);
        let minutes = distance / (mph * (0.2 * normal(rng)).exp()) * 60.0;
        let night = !(6..20).contains(&hour);
        MIN_FARE
            + distance_charge(distance)
            + 0.35 * minutes * slow_share
            + if night { 0.5 } else { 0.0 }
            + if evening_peak { 1.0 } else { 0.0 }
    };
    if vendor == "VTS" {
        fare = fare * 1.015 + 0.3;
    }
    fare = round_to(fare + 0.6 * normal(rng), 0.5).max(MIN_FARE);

    Trip {
        vendor,
        pickup_datetime: format_datetime(MONTH_START + seconds, 0),
        passengers,
        pickup: round_coords(pickup),
        dropoff: round_coords(dropoff),
        distance,
        hour,
        weekday,
        store_and_fwd: vendor == "CMT" && rng.f64() < 0.02,
        fare,
    }
}

/// A point `t` of the way along Manhattan's axis (clamped to the island) and `across` (−1 to 1)
/// of the way from its axis to its shore.
fn on_island(t: f64, across: f64) -> (f64, f64) {
    let t = t.clamp(0.0, 1.0);
    let (dlat, dlon) = (AXIS_END.0 - AXIS_START.0, AXIS_END.1 - AXIS_START.1);
    // The unit vector across the axis, in km.
    let (north_km, east_km) = (dlat * KM_PER_DEGREE_LAT, dlon * KM_PER_DEGREE_LON);
    let norm = north_km.hypot(east_km);
    let off = across * HALF_WIDTH_KM;
    (
        AXIS_START.0 + t * dlat - off * east_km / norm / KM_PER_DEGREE_LAT,
        AXIS_START.1 + t * dlon + off * north_km / norm / KM_PER_DEGREE_LON,
    )
}

fn jitter(rng: &mut fastrand::Rng, (lat, lon): (f64, f64), degrees: f64) -> (f64, f64) {
    (lat + degrees * normal(rng), lon + degrees * normal(rng))
}

/// The great-circle distance in miles.
fn miles(a: (f64, f64), b: (f64, f64)) -> f64 {
    const EARTH_RADIUS_MILES: f64 = 3_958.8;
    let (lat1, lat2) = (a.0.to_radians(), b.0.to_radians());
    let (dlat, dlon) = (lat2 - lat1, (b.1 - a.1).to_radians());
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_MILES * h.sqrt().asin()
}

/// The metered distance charge: cheaper by the mile on long trips.
fn distance_charge(miles: f64) -> f64 {
    2.5 * miles.min(5.0) + 2.2 * (miles.min(12.0) - 5.0).max(0.0) + 1.9 * (miles - 12.0).max(0.0)
}

/// The typical speed (mph) and share of the trip spent in slow traffic at a pickup hour.
fn traffic(hour: u32, weekend: bool) -> (f64, f64) {
    let (mph, slow): (f64, f64) = match hour {
        0..=5 => (20.0, 0.1),
        7..=9 => (9.0, 0.6),
        16..=19 => (8.5, 0.65),
        20..=23 => (14.0, 0.25),
        _ => (11.0, 0.4),
    };
    if weekend {
        (mph * 1.25, slow * 0.6)
    } else {
        (mph, slow)
    }
}

fn round_to(x: f64, step: f64) -> f64 {
    (x / step).round() * step
}

fn round_coords((lat, lon): (f64, f64)) -> (f64, f64) {
    let r = |x: f64| (x * 1e6).round() / 1e6;
    (r(lat), r(lon))
}

/// The table's columns, filled a trip at a time.
struct Columns {
    vendor: Vec<Option<String>>,
    pickup_datetime: Vec<Option<String>>,
    passenger_count: Vec<f64>,
    pickup_longitude: Vec<f64>,
    pickup_latitude: Vec<f64>,
    dropoff_longitude: Vec<f64>,
    dropoff_latitude: Vec<f64>,
    trip_distance: Vec<f64>,
    pickup_hour: Vec<f64>,
    pickup_weekday: Vec<f64>,
    store_and_fwd_flag: Vec<Option<String>>,
    fare_amount: Vec<f64>,
}

impl Columns {
    fn with_capacity(n: usize) -> Columns {
        Columns {
            vendor: Vec::with_capacity(n),
            pickup_datetime: Vec::with_capacity(n),
            passenger_count: Vec::with_capacity(n),
            pickup_longitude: Vec::with_capacity(n),
            pickup_latitude: Vec::with_capacity(n),
            dropoff_longitude: Vec::with_capacity(n),
            dropoff_latitude: Vec::with_capacity(n),
            trip_distance: Vec::with_capacity(n),
            pickup_hour: Vec::with_capacity(n),
            pickup_weekday: Vec::with_capacity(n),
            store_and_fwd_flag: Vec::with_capacity(n),
            fare_amount: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, t: &Trip) {
        self.vendor.push(Some(t.vendor.to_owned()));
        self.pickup_datetime.push(Some(t.pickup_datetime.clone()));
        self.passenger_count.push(t.passengers);
        self.pickup_latitude.push(t.pickup.0);
        self.pickup_longitude.push(t.pickup.1);
        self.dropoff_latitude.push(t.dropoff.0);
        self.dropoff_longitude.push(t.dropoff.1);
        self.trip_distance.push(t.distance);
        self.pickup_hour.push(f64::from(t.hour));
        self.pickup_weekday.push(f64::from(t.weekday));
        self.store_and_fwd_flag
            .push(Some(if t.store_and_fwd { "Y" } else { "N" }.to_owned()));
        self.fare_amount.push(t.fare);
    }

    fn into_table(self) -> Table {
        let columns = [
            ("vendor", Column::Text(self.vendor)),
            ("pickup_datetime", Column::Text(self.pickup_datetime)),
            ("passenger_count", Column::Number(self.passenger_count)),
            ("pickup_longitude", Column::Number(self.pickup_longitude)),
            ("pickup_latitude", Column::Number(self.pickup_latitude)),
            ("dropoff_longitude", Column::Number(self.dropoff_longitude)),
            ("dropoff_latitude", Column::Number(self.dropoff_latitude)),
            ("trip_distance", Column::Number(self.trip_distance)),
            ("pickup_hour", Column::Number(self.pickup_hour)),
            ("pickup_weekday", Column::Number(self.pickup_weekday)),
            ("store_and_fwd_flag", Column::Text(self.store_and_fwd_flag)),
            ("fare_amount", Column::Number(self.fare_amount)),
        ];
        Table::new(columns.map(|(name, column)| (name.to_owned(), column)))
            .unwrap_or_else(|e| unreachable!("the taxi columns are distinct and equally long: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_charge_tapers() {
        assert!((distance_charge(2.0) - 5.0).abs() < 1e-9);
        assert!((distance_charge(10.0) - (12.5 + 11.0)).abs() < 1e-9);
        assert!((distance_charge(20.0) - (12.5 + 15.4 + 15.2)).abs() < 1e-9);
    }

    #[test]
    fn manhattan_axis_is_about_13_miles() {
        let d = miles(on_island(0.0, 0.0), on_island(1.0, 0.0));
        assert!((12.0..14.0).contains(&d), "{d}");
        assert!(miles(JFK, on_island(0.35, 0.0)) > 10.0);
    }
}
