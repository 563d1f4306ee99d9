"""Imported by fork servers (:func:`runtime.processes.worker_context`'s ``preload``) for its side
effect: pyarrow's first conversion of Python objects imports pandas (to recognise pandas
objects), 0.3-0.8 s of CPU measured here. Done once in the fork server, every worker forked
from it starts with that done and shares the pages, instead of paying it again each."""

import pyarrow as pa

pa.array([""], pa.string())
