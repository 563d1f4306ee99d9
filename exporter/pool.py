"""Running segment tasks: serially in this process, or on a pool of worker processes.

Processes, not threads: parsing is CPU-bound and the GIL makes threads 1x on this kind of
work (performance.md section 3). Workers come from a fork server that imported this module
once (:mod:`lake.processes`; spawned where fork is unsafe), build their own clients once,
``gc.freeze()`` what they imported, and send progress to the parent through a queue. The
first failure sets a shared stop flag; other segments stop at their next page with their
checkpoints saved, and the parent raises the failure. Ctrl-C does the same.
"""

from __future__ import annotations

import gc
import os
import queue
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from exporter.pages import install_raw_scan
from exporter.ratelimit import TokenBucket
from exporter.segment import SegmentEnv, SegmentResult, SegmentTask, run_segment
from exporter.workers import WORKER_MODULES
from lake.aws import make_client, make_session
from lake.fileio import FileIO, WriteOptions, load_file_io
from lake.processes import adopt, lean_memory, worker_context
from schemas.errors import DdbLakeError, PortableError

Report = Callable[[int, int], None]
_WORKER: dict[str, Any] = {}


def make_env(session: Any, io: FileIO, bucket: TokenBucket | None, report: Report,
             stopped: Callable[[], bool]) -> SegmentEnv:
    ddb = install_raw_scan(make_client("dynamodb", session))
    return SegmentEnv(ddb, io, bucket, report, stopped)


def run_serial(tasks: Sequence[SegmentTask], *, session: Any, io: FileIO,
               bucket: TokenBucket | None, report: Report) -> list[SegmentResult]:
    lean_memory()
    env = make_env(session, io, bucket, report, lambda: False)
    return [run_segment(task, env) for task in tasks]


def _init_worker(environ: dict[str, str], profile: str | None, region: str | None, lake: str,
                 bucket: TokenBucket | None, progress: Any, stop: Any,
                 options: WriteOptions | None = None) -> None:
    adopt(environ)
    session = make_session(profile, region)
    io = load_file_io(lake, session=session, options=options)

    def report(items: int, nbytes: int) -> None:
        progress.put((items, nbytes))

    _WORKER["env"] = make_env(session, io, bucket, report, stop.is_set)
    gc.freeze()  # keep boto3's service models and modules out of every collection


def _run_in_worker(task: SegmentTask) -> SegmentResult | PortableError:
    try:
        return run_segment(task, _WORKER["env"])
    except DdbLakeError as e:
        return PortableError.of(e)


def run_parallel(tasks: Sequence[SegmentTask], *, workers: int, profile: str | None,
                 region: str | None, lake: str, bucket: TokenBucket | None,
                 report: Report, options: WriteOptions | None = None) -> list[SegmentResult]:
    ctx = worker_context(WORKER_MODULES)
    progress = ctx.Queue()
    stop = ctx.Event()
    results: list[SegmentResult] = []
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(dict(os.environ), profile, region, lake, bucket,
                                       progress, stop, options)) as pool:
        futures = [pool.submit(_run_in_worker, task) for task in tasks]
        try:
            _collect(futures, progress, report, results)
        except BrokenProcessPool as e:
            stop.set()
            raise DdbLakeError("a worker process died (killed, or out of memory)",
                               hint="re-run with --resume; if memory ran out, lower "
                                    "--workers or --target-file-mb") from e
        except BaseException:
            stop.set()
            for future in futures:
                future.cancel()
            wait(futures)
            raise
        finally:
            _drain(progress, report)
    return results


def _collect(futures: list[Future[Any]], progress: Any, report: Report,
             results: list[SegmentResult]) -> None:
    pending = set(futures)
    while pending:
        done, pending = wait(pending, timeout=0.25, return_when=FIRST_EXCEPTION)
        _drain(progress, report)
        for future in done:
            outcome = future.result()
            if isinstance(outcome, PortableError):
                raise outcome.rebuild()
            results.append(outcome)


def _drain(progress: Any, report: Report) -> None:
    while True:
        try:
            items, nbytes = progress.get_nowait()
        except (queue.Empty, OSError, ValueError):
            return
        report(items, nbytes)
