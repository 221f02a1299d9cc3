"""Convert the shared wide CSVs (one column per model) into the bundled long-form snapshot.

Usage: python tools/make_snapshot.py ../shared/data/numerai-classic-r843-r1197 stakealloc/data/classic_r843_r1197.csv

Scores are stored under the API's displayNames of what the files hold: Classic's canonical
20-day CORR and MMC, `canon_corr` and `canon_mmc`. Values are copied as written (no float round trip).
Model names are lower-cased as
Numerai writes them. Rounds 1178–1197 were not final when the data was fetched,
so they are marked resolved = false.
"""

import csv
import sys
from pathlib import Path

UNRESOLVED_FROM = 1178


def main(src: Path, dest: Path) -> None:
    rows = []
    for score, name in (("canon_corr", "daily_data_corr_abs.csv"), ("canon_mmc", "daily_data_mmc_abs.csv")):
        with open(src / name, newline="") as f:
            reader = csv.reader(f)
            header = next(reader)
            models = [m.lower() for m in header[1:]]
            for rec in reader:
                rnd = int(rec[0])
                for model, value in zip(models, rec[1:]):
                    if value in ("NA", ""):
                        continue
                    float(value)  # must parse
                    rows.append((rnd, model, score, value, "false" if rnd >= UNRESOLVED_FROM else "true"))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    tmp = dest.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["round", "model", "score", "value", "resolved"])
        w.writerows(rows)
    tmp.replace(dest)
    print(f"{len(rows)} rows -> {dest}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
