"""``python -m tokenradar`` runs the command line."""

from tokenradar.cli import main

main()
