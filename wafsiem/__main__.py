"""`python -m wafsiem` is the `wafsiem` command."""

from wafsiem.cli import main

main()
