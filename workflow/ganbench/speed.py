"""Collect the benchmark records (results/<study>/benchmark/*.json) into speed.csv.

One row per impl x shape with the median step time over interleaved repetitions,
images/s, compile (first step) and setup seconds, peak memory, and the ratio of
the impl's step time to the fastest impl's on the same shape.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd


def speed_table(records: list[dict]) -> pd.DataFrame:
    rows = [dict(row, threads=rec.get("threads")) for rec in records for row in rec["rows"]]
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame = frame.drop(columns=["all_median_step_ms"], errors="ignore")
    fastest = frame.groupby("shape")["median_step_ms"].transform("min")
    frame["ratio_to_fastest"] = frame["median_step_ms"] / fastest
    return frame


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("records", nargs="*", type=Path)
    args = p.parse_args(argv)
    frame = speed_table([json.loads(path.read_text()) for path in args.records])
    tmp = args.out.with_suffix(".csv.tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(args.out)
    print(f"wrote {args.out}: {len(frame)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
