"""``python -m etl`` is the ``etl`` command."""

from . import main

main()
