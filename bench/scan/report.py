"""Table (markdown, on stdout) and chart (``scan-bench.png``) from ``out/results-*.json``.

    bench/scan/.venv-peers/bin/python bench/scan/report.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def load() -> list[dict[str, Any]]:
    runs = []
    for path in sorted((HERE / "out").glob("results-*.json")):
        data = json.loads(path.read_text())
        for row in data["rows"]:
            row["gz_export_bytes"] = data["gz_export_bytes"]
            runs.append(row)
    return runs


def table(rows: list[dict[str, Any]]) -> str:
    head = ("| server | items | tool | items/s (wall) | client CPU us/item | peak RSS MB "
            "| peak PSS MB | output MB | output / gz export | load avg (1m) |\n"
            "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    lines = [head]
    for r in rows:
        ratio = r["output_bytes"] / r["gz_export_bytes"] if r["output_bytes"] else 0
        status = "" if r["ok"] else " (failed)"
        lines.append(
            f"| {r['server']} | {r['n']:,} | {r['tool']}{status} | {r['items_per_s'] or 0:,} "
            f"| {r['cpu_us_per_item'] or 0} | {r['peak_rss_mb']} | {r.get('peak_pss_mb', '')} "
            f"| {r['output_bytes'] / 1e6:.1f} | {ratio:.2f} | {r['load_avg'][0]:.1f} |")
    return "\n".join(lines)


def chart(rows: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = sorted({(r["server"], r["n"]) for r in rows}, key=lambda g: (g[0] != "replay", g[1]))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, key, label in ((axes[0], "items_per_s", "items/s (wall, higher is better)"),
                           (axes[1], "cpu_us_per_item", "client CPU us/item (lower is better)")):
        names = [f"{s} {n // 1000}k" for s, n in groups]
        tools = sorted({r["tool"] for r in rows})
        width = 0.8 / len(tools)
        for i, tool in enumerate(tools):
            values = []
            for group in groups:
                match = [r for r in rows if (r["server"], r["n"]) == group and r["tool"] == tool]
                values.append((match[0][key] or 0) if match else 0)
            ax.bar([x + i * width for x in range(len(groups))], values, width, label=tool)
        ax.set_xticks([x + 0.4 - width / 2 for x in range(len(groups))], names)
        ax.set_yscale("log")
        ax.set_title(label)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(HERE / "scan-bench.png", dpi=100)


def main() -> None:
    rows = load()
    print(table(rows))
    chart(rows)


if __name__ == "__main__":
    main()
