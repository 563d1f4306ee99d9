"""Restore lake snapshots (whole, any second, or chosen rows) into DynamoDB tables."""

from restorer.config import RestoreConfig, RestoreResult, RetryPolicy
from restorer.restore import restore

__all__ = ["RestoreConfig", "RestoreResult", "RetryPolicy", "restore"]
