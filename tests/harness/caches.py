"""Process-wide caches for the test run: what the libraries under test load again and again,
the same way each time, is loaded once per pytest worker.

botocore reads its data files (service models, endpoints, rule sets, the list of services) once
per *session* and keeps them in the session's loader; the code under test makes a new
``boto3.Session`` per Lambda invocation and per command, as it must in AWS, so a test run
parsed the same JSON files hundreds of times. :func:`share_botocore_loader` gives every session
of the process the one loader per data path: the same objects a single session shares between
its clients (botocore treats them as read-only), so clients behave exactly as before.

:func:`rendered` runs the real program once per configuration and process, for the tests that
render the same configuration (``stack_recordings`` does the same for the stack files), and
:func:`skip_source_positions` leaves out of every render the stack trace the mock engine drops.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.harness.mocks import Recording


class _Paths(list[str]):
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


def skip_source_positions() -> None:
    """Register resources without the stack trace Pulumi's SDK takes for each registration (the
    source position a real engine shows in its messages; idempotent). Taking it is a fifth of a
    render under mocks (``traceback.extract_stack`` and a file URI for every frame:
    ``_get_stack_trace`` in pulumi/runtime/resource.py, called by ``register_resource`` and
    ``read_resource``), and the mock monitor drops it unread (pulumi/runtime/mocks.py never
    reads ``stackTrace`` or ``sourcePosition``). An empty trace is what the SDK itself sends
    when it finds no user frame."""
    from pulumi.runtime import resource
    from pulumi.runtime.proto import source_pb2

    taken = resource._get_stack_trace  # an AttributeError here: the SDK moved it
    if getattr(taken, "skipped", False):
        return

    def no_stack_trace() -> Any:
        return source_pb2.StackTrace()

    no_stack_trace.skipped = True  # type: ignore[attr-defined]
    no_stack_trace.taken = taken  # type: ignore[attr-defined]
    resource._get_stack_trace = no_stack_trace


_RENDERS: dict[tuple[Any, ...], Any] = {}


def rendered(config: Mapping[str, str], **kwargs: Any) -> Recording:
    """``run_main(config, **kwargs)``, run once per process for each configuration: every test
    that renders the same configuration gets its own copy of the one recording (a copy takes
    milliseconds, a render a few hundred)."""
    from tests.harness.stacks import run_main

    key = (tuple(sorted(config.items())), tuple(sorted((k, repr(v)) for k, v in kwargs.items())))
    if key not in _RENDERS:
        _RENDERS[key] = run_main(dict(config), **kwargs)
    return copy.deepcopy(_RENDERS[key])
