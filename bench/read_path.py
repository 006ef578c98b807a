"""The read path next to PostGraphile v4 on one database: the speed issue's targets, as ratios.

    ../shared/peers/postgraphile/setup.sh                 # once: seeds the comparison database
    .venv/bin/python -m bench.read_path --runs 3           # runs compare.sh 3 times, prints medians

Runs the peer's `compare.sh` (with this checkout's venv, so uncommitted changes are measured, or
`--venv` another one, e.g. the peer's own install of a commit)
`--runs` times, reads the JSON each run writes, and prints per query the median p50 and req/s of
both servers, their ratios and the target each ratio must meet. The peer folder is only read.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEER = ROOT.parent / "shared" / "peers" / "postgraphile"
WORK = Path(os.environ.get("WORK", os.path.join(os.environ.get("TMPDIR", "/tmp"), "pgcompare")))
# query: (what it is, p50 ≤ this × PostGraphile's, req/s ≥ this × PostGraphile's)
TARGETS = {
    "a": ("users page: 50 users + licenses + first 10 groups", 1.5, 0.5),
    "b": ("the same + enabledServicePlans", 1.0, 0.7),
    "c": ("Licenses page", 1.5, 0.5),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--venv", default=str(ROOT / ".venv"), help="the service's venv (default: this checkout's)")
    args = parser.parse_args()
    env = {**os.environ, "VENV": args.venv, "WORK": str(WORK)}
    results = []
    for run in range(args.runs):
        before = set(glob.glob(str(WORK / "results" / "*.json")))
        done = subprocess.run(["bash", str(PEER / "compare.sh")], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"compare.sh failed (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        (new,) = set(glob.glob(str(WORK / "results" / "*.json"))) - before
        results.append(json.loads(Path(new).read_text())["results"])
        loads = [line for line in done.stdout.splitlines() if line.startswith("load average")]
        print(f"run {run + 1} of {args.runs} done ({new}; {' / '.join(loads)})", flush=True)
    print(f"\nmedians of {args.runs} runs (200 sequential requests after 20 warm-ups; 8 clients for the req/s)\n")
    print("| query | ours p50 ms | PostGraphile p50 ms | ratio | target | met | ours req/s | PostGraphile req/s | ratio | target | met |")
    print("|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---|")
    for q, (what, p50_target, rps_target) in TARGETS.items():
        ours_p50 = statistics.median(r[q]["ours"]["p50"] for r in results)
        pg_p50 = statistics.median(r[q]["pg"]["p50"] for r in results)
        ours_rps = statistics.median(r[q]["ours"]["rps"] for r in results)
        pg_rps = statistics.median(r[q]["pg"]["rps"] for r in results)
        lat, thr = ours_p50 / pg_p50, ours_rps / pg_rps
        print(
            f"| ({q}) {what} | {ours_p50:.1f} | {pg_p50:.1f} | {lat:.2f}× | ≤ {p50_target}× | {'yes' if lat <= p50_target else 'no'} "
            f"| {ours_rps:.0f} | {pg_rps:.0f} | {thr:.2f}× | ≥ {rps_target}× | {'yes' if thr >= rps_target else 'no'} |"
        )


if __name__ == "__main__":
    main()
