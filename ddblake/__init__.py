"""ddblake: DynamoDB tables as a Parquet data lake you can query and restore from."""

__version__ = "0.1.0"
