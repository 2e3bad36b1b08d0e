"""The tools around the aisb library: the ``aisb`` command (preflight, check, drill, plan,
stacks, fleet), the plan renderer, the organisation inventory, the deploy-role template and
the generator of the files derived from the code.

Installed with the library, their dependencies come with the ``cli`` extra
(``pip install "aisb[cli]"``). The library never imports them (``tests/test_layout.py``).
"""
