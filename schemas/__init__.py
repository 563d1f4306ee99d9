"""Contracts of ddblake: the item codec, DynamoDB limits, manifest and change-record models,
JSON Schema files, and the root error class. Imports nothing else of ours."""
