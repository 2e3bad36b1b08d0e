"""``python -m aisb_tools.cli``: the ``aisb`` command."""

from aisb_tools.cli import main

main()
