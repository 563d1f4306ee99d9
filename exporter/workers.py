"""What the export's worker processes import (kept apart, and light, so that the command
line can start their fork server before it imports anything heavy itself)."""

WORKER_MODULES = ("exporter.segment", "runtime.arrow_warmup")
