"""``python -m aisb.cli``: the ``aisb`` command."""

from aisb.cli import main

main()
