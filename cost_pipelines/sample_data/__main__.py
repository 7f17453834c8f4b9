import argparse
import time
from datetime import date
from pathlib import Path

from cost_pipelines.sample_data.generate import DEFAULT_END, DEFAULT_SEED, DEFAULT_START, generate

parser = argparse.ArgumentParser(prog="python -m cost_pipelines.sample_data")
parser.add_argument("--out", type=Path, required=True)
parser.add_argument("--start", type=date.fromisoformat, default=DEFAULT_START)
parser.add_argument("--end", type=date.fromisoformat, default=DEFAULT_END)
parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
args = parser.parse_args()
began = time.perf_counter()
summary = generate(args.out, args.start, args.end, args.seed)
print(f"{summary} in {time.perf_counter() - began:.1f}s")
