"""Prepare the raw taxi trips for training.

Reads the raw trips (one CSV file), drops the rows with missing or implausible
values, encodes the categorical columns as numbers and splits the rows 70/15/15
into train, validation and test sets. Each set is written as ``data.parquet``
into its own output folder.
"""

import argparse
from pathlib import Path

import mlflow
import pandas as pd

TARGET_COL = "fare_amount"

NUMERIC_COLS = [
    "passenger_count",
    "pickup_longitude",
    "pickup_latitude",
    "dropoff_longitude",
    "dropoff_latitude",
    "trip_distance",
    "pickup_hour",
    "pickup_weekday",
]

# Every vendor gets its own 0/1 column; rows with any other vendor are dropped.
VENDORS = ["CMT", "VTS"]
STORE_AND_FWD_FLAGS = ["N", "Y"]

# A generous box around New York City: coordinates outside it are GPS noise.
NYC_LONGITUDE = (-74.3, -73.6)
NYC_LATITUDE = (40.4, 41.1)

TRAIN_FRACTION = 0.70
VAL_FRACTION = 0.15  # the test set gets the remaining 15%
SEED = 42


def parse_args():
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw_data", required=True, help="raw trips, a CSV file")
    parser.add_argument("--train_data", required=True, help="output folder of the train set")
    parser.add_argument("--val_data", required=True, help="output folder of the validation set")
    parser.add_argument("--test_data", required=True, help="output folder of the test set")
    return parser.parse_args()


def clean(raw):
    """Return the rows of ``raw`` whose values are all present and plausible."""
    df = raw.copy()
    # A value that is not a number becomes NaN, and its row is dropped below.
    for col in NUMERIC_COLS + [TARGET_COL]:
        df[col] = pd.to_numeric(df[col], errors="coerce")
    df = df.dropna(subset=NUMERIC_COLS + [TARGET_COL, "vendor", "store_and_fwd_flag"])

    valid = (
        (df[TARGET_COL] > 0)
        & (df["trip_distance"] >= 0)
        & df["passenger_count"].between(1, 6)
        & df["pickup_hour"].between(0, 23)
        & df["pickup_weekday"].between(0, 6)
        & df["vendor"].isin(VENDORS)
        & df["store_and_fwd_flag"].isin(STORE_AND_FWD_FLAGS)
    )
    for col in ("pickup_longitude", "dropoff_longitude"):
        valid &= df[col].between(*NYC_LONGITUDE)
    for col in ("pickup_latitude", "dropoff_latitude"):
        valid &= df[col].between(*NYC_LATITUDE)
    return df[valid]


def encode(df):
    """Return the model's features followed by the target column, all as floats.

    ``vendor`` is one-hot encoded and ``store_and_fwd_flag`` becomes 0/1.
    ``pickup_datetime`` is dropped: ``pickup_hour`` and ``pickup_weekday``
    already carry the part of it that matters for the fare. Floats everywhere
    keep the model's MLflow signature simple: a column of doubles accepts any
    number at inference time.
    """
    features = df[NUMERIC_COLS].copy()
    for vendor in VENDORS:
        features[f"vendor_{vendor}"] = df["vendor"] == vendor
    features["store_and_fwd_flag"] = df["store_and_fwd_flag"] == "Y"
    features[TARGET_COL] = df[TARGET_COL]
    return features.astype("float64").reset_index(drop=True)


def split(df):
    """Shuffle ``df`` with a fixed seed and cut it into train, validation and test sets."""
    shuffled = df.sample(frac=1.0, random_state=SEED).reset_index(drop=True)
    n_train = int(len(shuffled) * TRAIN_FRACTION)
    n_val = int(len(shuffled) * VAL_FRACTION)
    return (
        shuffled.iloc[:n_train],
        shuffled.iloc[n_train : n_train + n_val],
        shuffled.iloc[n_train + n_val :],
    )


def main():
    """Clean, encode and split the raw trips; log the row counts to MLflow."""
    args = parse_args()
    print(f"Raw data: {args.raw_data}")

    raw = pd.read_csv(args.raw_data)
    data = encode(clean(raw))
    print(f"Read {len(raw)} rows, kept {len(data)} ({len(raw) - len(data)} dropped as invalid)")

    outputs = {"train": args.train_data, "val": args.val_data, "test": args.test_data}
    counts = {"raw_rows": len(raw), "dropped_rows": len(raw) - len(data)}
    for (name, folder), part in zip(outputs.items(), split(data)):
        path = Path(folder) / "data.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        part.to_parquet(path, index=False)
        counts[f"{name}_rows"] = len(part)
        print(f"Wrote {len(part)} {name} rows to {path}")

    with mlflow.start_run():
        mlflow.log_metrics(counts)


if __name__ == "__main__":
    main()
