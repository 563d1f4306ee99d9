"""``python -m ddblake`` runs the command line."""

from ddblake.cli import main

main()
