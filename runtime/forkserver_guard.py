"""A preload of the fork server (:func:`runtime.processes.worker_context` adds it): imported
there, it makes the kernel end the fork server when the tool that started it dies (Linux;
:mod:`runtime.lifeline`). Elsewhere it does nothing. No threads: the fork server forks."""

from runtime.lifeline import kernel_guard

kernel_guard()
