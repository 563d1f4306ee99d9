"""What does reading a restore's selection from verified local copies cost? Times
``restore --dry-run`` (find the snapshot, fetch and verify its parts, count and sample the
selection) on a lake of N sample orders in parts of 50,000 rows.

    # build once (a local folder, or s3://... with AWS_ENDPOINT_URL pointing at moto)
    PYTHONPATH=$PWD .venv/bin/python bench/restore/verified_bench.py LAKE 200000 --build
    # then time this tree against another checkout of ddblake, alternating:
    PYTHONPATH=$PWD .venv/bin/python bench/restore/verified_bench.py LAKE 200000
    PYTHONPATH=/path/to/other/checkout .venv/bin/python bench/restore/verified_bench.py LAKE 200000
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import boto3

from restorer import RestoreConfig, restore

TABLE = "orders"


def build(uri: str, items: int) -> None:
    from ddblake.sampledata import orders
    from lake import layout
    from lake.fileio import S3FileIO, load_file_io
    from lake.writers import SnapshotWriter, utc_now
    from schemas.codec import encode_items
    from schemas.keys import KeyAttribute, KeySchema
    from schemas.manifest import Consistency, Source

    keys = KeySchema(KeyAttribute("pk", "S"), KeyAttribute("sk", "S"))
    io = load_file_io(uri)
    if isinstance(io, S3FileIO):
        io.client.create_bucket(Bucket=io.location.bucket)
    writer = SnapshotWriter(io, TABLE, layout.new_id(), keys)
    for seq, start in enumerate(range(0, items, 50_000)):
        part = encode_items(orders(min(50_000, items - start), start=start), keys)
        writer.write_part(layout.part_name(0, seq), part)
    attrs = [{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")]
    description = {"TableName": TABLE, "BillingMode": "PAY_PER_REQUEST",
                   "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                 {"AttributeName": "sk", "KeyType": "RANGE"}],
                   "AttributeDefinitions": attrs}
    now = utc_now()
    writer.commit(source=Source(TABLE, "scan"), consistency=Consistency("fuzzy", now, now),
                  table_description=description)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("lake")
    parser.add_argument("items", type=int)
    parser.add_argument("--build", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.build:
        build(args.lake, args.items)
        return
    runs = []
    for _ in range(args.runs):
        wall, cpu = time.perf_counter(), time.process_time()
        result = restore(RestoreConfig(lake=args.lake, target="bench-dry", table=TABLE,
                                       dry_run=True), session=boto3.Session())
        runs.append(f"{time.perf_counter() - wall:.2f} s wall / "
                    f"{time.process_time() - cpu:.2f} s CPU")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{os.environ.get('PYTHONPATH', '.')}: {result.selected} items; "
          f"{'; '.join(runs)}; peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
