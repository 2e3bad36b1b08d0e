"""Process-wide caches for the test run: what the libraries under test load again and again,
the same way each time, is loaded once per pytest worker.

botocore reads its data files (service models, endpoints, rule sets, the list of services) once
per *session* and keeps them in the session's loader; the code under test makes a new
``boto3.Session`` per Lambda invocation and per command, as it must in AWS, so a test run
parsed the same JSON files hundreds of times. :func:`share_botocore_loader` gives every session
of the process the one loader per data path: the same objects a single session shares between
its clients (botocore treats them as read-only), so clients behave exactly as before.
"""

from __future__ import annotations

import os
from typing import Any


class _Paths(list):  # type: ignore[type-arg]
    """A loader's search paths: boto3 appends its own on every new session; once is enough."""

    def append(self, path: Any) -> None:
        if path not in self:
            super().append(path)


def share_botocore_loader() -> None:
    """Make ``botocore.session.create_loader`` return one loader per data path (idempotent)."""
    import boto3
    import botocore.session

    if getattr(botocore.session.create_loader, "shared", False):
        return
    create = botocore.session.create_loader
    loaders: dict[str | None, Any] = {}
    # boto3 adds its resource models to each session's loader: add them up front, so a list of
    # resource models cached by a session botocore made alone still holds them.
    boto3_data = os.path.join(os.path.dirname(boto3.__file__), "data")

    def create_loader(search_path_string: str | None = None) -> Any:
        loader = loaders.get(search_path_string)
        if loader is None:
            loader = create(search_path_string)
            loader._search_paths = _Paths(loader.search_paths)
            loader.search_paths.append(boto3_data)
            loaders[search_path_string] = loader
        return loader

    create_loader.shared = True  # type: ignore[attr-defined]
    botocore.session.create_loader = create_loader
