"""ddblake: DynamoDB tables as a Parquet data lake you can query and restore from."""

from schemas.version import TOOL_VERSION as __version__

__all__ = ["__version__"]
