"""``python -m bench.compare BEFORE.json AFTER.json --out PNG``: the app's RSS under W7 and W2
in two runs side by side (e.g. a build without a fix and one with it; see docs/BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def w7_series(doc: dict[str, Any]) -> tuple[list[float], list[float]]:
    w7 = doc["w7"]
    t = [0.0] + [iv["t_s"] / 60 for iv in w7["intervals"]]
    rss = [w7["rss_start_mb"]["app"]] + [iv["rss_mb"]["app"] for iv in w7["intervals"]]
    return t, rss


def draw(runs: list[tuple[str, dict[str, Any]]], out: Path) -> Path:
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for (label, doc), color in zip(runs, ("tab:red", "tab:blue"), strict=False):
        if "w7" in doc:
            w7 = doc["w7"]
            t, rss = w7_series(doc)
            left.plot(
                t,
                rss,
                "o-",
                color=color,
                label=f"{label}: {w7['turns_per_s']:.0f} turns/s, "
                f"w7_rss_growth {w7['w7_rss_growth']}",
            )
        if "w2" in doc:
            w2 = doc["w2"]
            points = [(i, mb) for i, mb in w2["app_rss_mb"] if mb is not None]
            keys = (w2.get("cached_keys_end") or {}).get("ChatAgent")
            right.plot(
                [i for i, _ in points],
                [mb for _, mb in points],
                color=color,
                label=f"{label}: w2_rss_growth {w2['w2_rss_growth']}, {keys} keys cached",
            )
    left.set_xlabel("W7 soak, minutes")
    left.set_ylabel("app RSS (MB)")
    left.set_ylim(bottom=0)
    left.legend(fontsize=8, loc="lower right")
    right.set_xlabel("W2, turn of one conversation")
    right.set_ylabel("app RSS (MB)")
    right.set_ylim(bottom=0)
    right.legend(fontsize=8, loc="lower right", title="ChatAgent, at the end:", title_fontsize=8)
    fig.suptitle("The app's memory: W7 (32 users back to back) and W2 (one long conversation)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    p.add_argument("before", type=Path)
    p.add_argument("after", type=Path)
    p.add_argument("--labels", default="before,after", help="two names, comma-separated")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    labels = args.labels.split(",", 1)
    docs = [json.loads(path.read_text()) for path in (args.before, args.after)]
    sys.stdout.write(f"wrote {draw(list(zip(labels, docs, strict=True)), args.out)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
