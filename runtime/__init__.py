"""The runtime layer: how units of work run (serially, on local worker processes, or on a
Ray cluster), with one policy for work in flight, cancellation and errors, and one capacity
limiter for read and write budgets shared by every worker of a run.

It sits below the capture and restore packages (``exporter``, ``restorer``) and the storage
layer (``lake``), and imports only :mod:`schemas`. A unit is a module-level function
``fn(task, kit)``: ``task`` is plain picklable data that carries everything the unit needs
(its slice, the lake URI, AWS settings), ``kit`` (:class:`runtime.executor.Kit`) gives it
progress reporting, the stop flag, the shared budgets and a per-worker cache for clients.
"""
