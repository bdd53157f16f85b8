"""``python -m tiyan`` is the ``tiyan`` command."""

from tiyan.cli.main import main

main()
