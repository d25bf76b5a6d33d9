"""Markdown tables (one per clip) and a summary from tools/bench_interpolate.py --json output.

    python3 tools/interp_tables.py results.jsonl
"""

import json
import sys

import numpy as np


def main():
    rows = [json.loads(line) for f in sys.argv[1:] for line in open(f) if line.strip()]
    seen = {}
    for r in rows:  # the last run of each clip/variant/factor wins
        seen[(r["clip"], r["degrade"], r["factor"], r["first"])] = r
    clips = {}
    for r in seen.values():
        clips.setdefault((r["clip"], r["degrade"]), []).append(r)
    summary = {}
    for (clip, deg), rs in clips.items():
        rs.sort(key=lambda r: r["factor"])
        print(f"\n#### {clip}{' + ' + deg if deg else ''} ({rs[0]['size']})\n")
        print("| factor | frames | scored (skipped) | Wick | minterpolate | blend | Wick − minterpolate (frames better) | Wick − blend | Wick / minterpolate time (s) | ratio | load |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rs:
            if not r["scored"]:
                continue
            d = r["wick"] - r["mi"]
            summary.setdefault(r["factor"], []).append((f"{clip}{'+' + deg if deg else ''}", d, r["wick"] - r["blend"]))
            print(f"| {r['factor']}× | {r['first']}–{r['first'] + r['frames'] - 1} | {r['scored']} ({len(r['skipped'])}) | "
                  f"{r['wick']:.2f} | {r['mi']:.2f} | {r['blend']:.2f} | **{d:+.2f}** ({r['better']}/{r['scored']}) | "
                  f"{r['wick'] - r['blend']:+.2f} | {r['wick_s']:.1f} / {r['mi_s']:.1f} | {r['ratio']:.2f}× | "
                  f"{r['load'][0]:.1f}–{r['load'][1]:.1f} |")
        cuts = [r for r in rs if r["cuts_script"] or r["cuts_wick"]]
        for r in cuts:
            print(f"\nCuts ({r['factor']}×): script {r['cuts_script']}; `wick retime` reported between kept frames {r['cuts_wick']}.")
    print("\n#### Summary (Wick − minterpolate, dB; mean over clips)\n")
    for f in sorted(summary):
        s = summary[f]
        print(f"- {f}×: mean {np.mean([x[1] for x in s]):+.2f} dB over {len(s)} clips/variants; "
              f"min {min(x[1] for x in s):+.2f} ({min(s, key=lambda x: x[1])[0]}); "
              f"vs blend mean {np.mean([x[2] for x in s]):+.2f}")


if __name__ == "__main__":
    main()
