"""The interim analysis after one look of the sequential seed design (the checkpoint of
workflow/rules/looks.smk): which claims are decided, and which stay open and get the next
look's seeds (ganbench/looks.py). Writes results/<study>/looks/<k>/interim.json."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from ganbench import stats
from ganbench.looks import is_final, seed_plan


def analyse_look(summary: pd.DataFrame, config: dict, look: int) -> dict:
    """stats.interim at ``look`` (1-based) on the study's seed plan, plus ``final``: whether the
    study stops here (no claim open, or the cap)."""
    plan = seed_plan(config)
    result = stats.interim(summary, plan.looks, look - 1, seed_order=plan.seeds, spending=plan.spending)
    result["final"] = is_final(result, plan)
    result["seeds"] = list(plan.seeds_of(look))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--summary", required=True, type=Path, help="results/<study>/looks/<k>/summary.csv")
    parser.add_argument("--config", required=True, type=Path, help="results/<study>/config.json")
    parser.add_argument("--look", required=True, type=int, help="the look (1-based)")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    config = json.loads(args.config.read_text())
    result = analyse_look(pd.read_csv(args.summary), config, args.look)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2, default=str))
    tmp.replace(args.out)
    k, n = result["look"], len(result["looks"])
    for cid, c in result["claims"].items():
        state = (f"decided at look {c['look']} (n = {c['n']}): {c['verdict']}" if c["status"] == "decided"
                 else f"open: needs {c['next_n']} seeds")
        print(f"look {k} of {n}  {cid:<16} {state}")
    print(f"look {k} of {n}: {len(result['open'])} claim(s) open" + (" (the study stops here)" if result["final"]
                                                                      else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
