"""One module per command group; each registers itself on ddblake.cli.cli."""
