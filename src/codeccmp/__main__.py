"""``python -m codeccmp``: the same entry point as the console script."""

from codeccmp.cli import main

main()
