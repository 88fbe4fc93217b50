"""Buyer-private inputs against their peers, measured in one run: CKKS vs Paillier, our PSI vs OpenMined's.

- CKKS aggregation of 1,000 values from 5 parties (encrypt under the buyer's public context, add, decrypt)
  against Paillier-1024 from ``phe`` with gmpy2, the approach FATE uses (``bench/_he.py``).
- ECDH-PSI cardinality on ristretto255, 10k × 10k, single-threaded and threaded, against OpenMined's
  ``openmined-psi`` (``bench/_psi.py``). OpenMined's package must not become a dependency of the project, so
  it is installed into a virtual environment of its own under ``bench/.venvs/openmined`` on first use
  (``--no-install`` skips that; $OPENMINED_PSI_PYTHON names another interpreter that has it).

Prints a table with the ratios and writes bench/results/he_psi.json. Machines are shared and noisy: medians.
Usage: python bench/he_psi.py [--repeats R] [--psi-size N] [--no-install]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _he import bench_ckks_vs_paillier  # noqa: E402
from _psi import OPENMINED_ENV, bench_psi  # noqa: E402

HE_TARGET = 300.0  # CKKS at least this many times faster than Paillier-1024, in total
OPENMINED_VENV = ROOT / "bench" / ".venvs" / "openmined"


def openmined_python(install: bool) -> str | None:
    """An interpreter with ``openmined-psi``: $OPENMINED_PSI_PYTHON, the bench's own venv, or None."""
    if os.environ.get(OPENMINED_ENV):
        return os.environ[OPENMINED_ENV]
    python = OPENMINED_VENV / "bin" / "python"
    if not python.exists() and install:
        print(f"installing openmined-psi into {OPENMINED_VENV} (once) ...", flush=True)
        made = subprocess.run([sys.executable, "-m", "venv", str(OPENMINED_VENV)], check=False)
        if made.returncode == 0:
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", "openmined-psi"], check=False, timeout=900
            )
    return str(python) if python.exists() else None


def print_he(rows: list[dict[str, Any]]) -> None:
    *schemes, ratio = rows
    print("\nAggregation of 1,000 values from 5 parties (median seconds)")
    print(
        f"{'scheme':<16}{'total':>10}{'encrypt':>10}{'add':>10}{'decrypt':>10}{'bytes/party':>14}"
        f"{'max error':>11}"
    )
    for row in schemes:
        print(
            f"{row['params']:<16}{row['total_s']:>10.4f}{row['encrypt_s']:>10.4f}{row['aggregate_s']:>10.4f}"
            f"{row['decrypt_s']:>10.4f}{row['bytes_per_party']:>14,.0f}{row['max_abs_error']:>11.1e}"
        )
    verdict = "meets" if ratio["total_s"] >= HE_TARGET else "misses"
    print(f"{ratio['scheme']}: {ratio['total_s']:.0f}× in total ({verdict} the {HE_TARGET:.0f}× target)")


def print_psi(rows: list[dict[str, Any]]) -> None:
    *impls, summary = rows
    print(f"\nPSI cardinality, {summary['size']:,} × {summary['size']:,} keys")
    print(
        f"{'implementation':<44}{'threads':>8}{'median s':>10}{'items/s':>12}{'wire bytes':>14}{'correct':>9}"
    )
    for row in impls:
        if not row["available"]:
            print(f"{row['impl']:<44}  not measured: {row['reason']}")
            continue
        print(
            f"{row['impl']:<44}{row.get('threads', '?')!s:>8}{row['seconds_median']:>10.3f}"
            f"{row['items_per_second']:>12,}{row['wire_bytes']:>14,}{row['correct']!s:>9}"
        )
    wire = "meets" if summary["meets_wire_target"] else "misses"
    print(f"wire: {summary['wire_bytes']:,} bytes ({wire} the 1 MB target)")
    if summary.get("throughput_ratio_threaded") is not None:
        print(
            f"throughput over OpenMined: {summary['throughput_ratio_single_thread']}× single-threaded, "
            f"{summary['throughput_ratio_threaded']}× threaded (target {summary['throughput_target_ratio']}×)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--psi-size", type=int, default=10_000)
    parser.add_argument("--no-install", action="store_true", help="do not install openmined-psi")
    args = parser.parse_args()
    he = bench_ckks_vs_paillier(args.repeats)
    print_he(he)
    psi = bench_psi(args.psi_size, max(1, args.repeats // 2 + 1), openmined_python(not args.no_install))
    print_psi(psi)
    out = ROOT / "bench" / "results" / "he_psi.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"he": he, "psi": psi}, indent=2, ensure_ascii=False))
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
