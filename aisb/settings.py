"""Stack configuration -> validated arguments for ``IotSecurityBaseline``.

This is the only module that reads Pulumi configuration. The keys are derived from
``IotSecurityBaselineArgs``: each argument (but the library-only ones) is the key
``aisb:<camelCaseName>``, with the argument's type, its docstring as description, and the
default and checks the baseline itself uses (``aisb.baseline.OPTIONS`` and ``RULES``).
``Pulumi.yaml`` and the README's table are generated from ``KEYS`` (``python -m aisb_tools.docs``).
Every problem is reported at once, each naming the key, the value received (never a secret
one) and what is accepted, before any resource is registered.
"""

from __future__ import annotations

import difflib
import json
import re
import typing
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import pulumi

from aisb import validation as v
from aisb.baseline import LIBRARY_ONLY, OPTIONS, RULES, IotSecurityBaselineArgs, arg_docs
from aisb.options import camel, collect

NAMESPACE = "aisb"

# The one key a stack must set: a baseline that creates its alert topic needs someone to
# alert (the library also takes an existing topic instead).
CONFIG_REQUIRED = frozenset({"alert_emails"})


@dataclass(frozen=True)
class Key:
    """One ``aisb:`` configuration key, derived from an ``IotSecurityBaselineArgs`` field."""

    name: str
    """The key without its namespace: the argument's name in camelCase."""
    field: str
    """The ``IotSecurityBaselineArgs`` argument it sets."""
    type: str
    """string, integer, boolean, array (of strings), object (a map) or object-list (an array
    of maps), each declared in Pulumi.yaml so the CLI refuses a value of another shape."""
    default: Any
    """The value used when the stack does not set it; ``None`` with ``required``. An empty
    string means "unset": the Pulumi CLI treats a declared key without a default as required,
    so optional keys without a value declare ``default: ""``."""
    description: str
    required: bool = False
    choices: tuple[str, ...] = ()
    """The values a string key takes, when it is a choice."""

    @property
    def declaration(self) -> dict[str, Any]:
        """Its type in Pulumi.yaml: ``object`` is a config type from Pulumi CLI 3.187.0 on
        (the project's ``requiredPulumiVersion`` is later), an object-list an array of them."""
        if self.type == "array":
            return {"type": "array", "items": {"type": "string"}}
        if self.type == "object-list":
            return {"type": "array", "items": {"type": "object"}}
        return {"type": self.type}


def _kind(annotation: Any) -> tuple[str, tuple[str, ...]]:
    """The config type of an argument's annotation, and its choices if it is one."""
    if annotation is bool:
        return "boolean", ()
    if annotation is int:
        return "integer", ()
    if annotation is str:
        return "string", ()
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        return "string", tuple(str(m) for m in annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Sequence and args == (str,):
        return "array", ()
    if origin is Sequence and typing.is_typeddict(args[0]):
        return "object-list", ()
    if origin is Mapping:
        return "object", ()
    raise TypeError(f"no stack config type for {annotation!r}")


def _plain(value: Any) -> Any:
    """A default as YAML writes it."""
    if isinstance(value, tuple | frozenset):
        return sorted(value) if isinstance(value, frozenset) else list(value)
    if isinstance(value, MappingProxyType):
        return dict(value)
    return value


def _keys() -> tuple[Key, ...]:
    """The keys, derived from ``IotSecurityBaselineArgs``. ``parse`` derives them on each
    call (a tenth of a millisecond), so the derivation runs, and is mutation-tested, like any
    other code path rather than once at import."""
    docs = arg_docs()
    keys = []
    for field, annotation in IotSecurityBaselineArgs.__annotations__.items():
        if field in LIBRARY_ONLY:
            continue
        kind, choices = _kind(annotation)
        required = field in CONFIG_REQUIRED
        default = _plain(OPTIONS[field].default)
        if default is None and not required:
            default = ""  # unset
        keys.append(
            Key(
                name=camel(field),
                field=field,
                type=kind,
                default=None if required else default,
                description=docs[field],
                required=required,
                choices=choices,
            )
        )
    return tuple(keys)


BASELINE_NAME = "aisb"
"""The name the program gives its baseline: every physical name starts with it, and the
``aisb`` command finds the deployed resources by it."""

KEYS: tuple[Key, ...] = _keys()


class ConfigError(pulumi.RunError):
    """The stack configuration is invalid; nothing was registered."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "invalid aisb stack configuration:\n" + "\n".join(f"  - {p}" for p in problems)
        )


class Settings:
    """A stack's validated configuration: the baseline's arguments, by argument name
    (``settings.cert_max_age_days``), and the stack's region."""

    def __init__(self, region: str, values: Mapping[str, Any]) -> None:
        self.region = region
        self._values = dict(values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def baseline_args(self) -> IotSecurityBaselineArgs:
        """The arguments ``IotSecurityBaseline`` takes for this stack."""
        args: dict[str, Any] = {}
        for field, value in self._values.items():
            if value is None:
                continue
            if isinstance(value, frozenset):
                value = sorted(value)
            elif isinstance(value, tuple):
                value = [dict(x) if isinstance(x, Mapping) else x for x in value]
            elif isinstance(value, Mapping):
                value = dict(value)
            args[field] = value
        return typing.cast(IotSecurityBaselineArgs, args)


def _decode(key: Key, raw: str) -> Any:
    """Turn the string Pulumi passes for ``key`` into a Python value of the key's type."""
    if key.type == "string":
        return raw
    if key.type == "boolean":
        if raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        raise v.InvalidValue(raw, "true or false")
    if key.type == "integer":
        try:
            return int(raw)
        except ValueError:
            raise v.InvalidValue(raw, "a whole number") from None
    expected = {"array": list, "object": dict, "object-list": list}[key.type]
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    if not isinstance(value, expected):
        raise v.InvalidValue(raw, f"a YAML {'list' if expected is list else 'map'}")
    if key.type == "array" and not all(isinstance(item, str) for item in value):
        raise v.InvalidValue(value, "a YAML list of strings")
    return value


def _where(path: str) -> str:
    """An argument path (``detect_rules[2].ports``) as the config key path it came from
    (``detectRules[2].ports``)."""
    head = re.split(r"[\[.]", path, maxsplit=1)[0]  # the argument, up to its first [ or .
    return camel(head) + path[len(head) :]


def parse(config: Mapping[str, str], secret_keys: Collection[str] = ()) -> Settings:
    """Validate a stack's whole configuration (``{"ns:key": "raw string"}``, as Pulumi passes
    it to the program) and return its settings, or raise ``ConfigError`` listing every
    problem. Values of ``secret_keys`` are never shown in a message."""
    problems: list[str] = []
    keys = _keys()
    by_name = {k.name: k for k in keys}

    def report(key: str, err: v.InvalidValue) -> None:
        if f"{NAMESPACE}:{key.partition('[')[0].partition('.')[0]}" in secret_keys:
            problems.append(f"aisb:{key}: got [secret]; expected {err.expected}")
        else:
            problems.append(f"aisb:{key}: {err}")

    prefix = NAMESPACE + ":"
    for full_key in sorted(config):
        if full_key.startswith(prefix) and full_key[len(prefix) :] not in by_name:
            name = full_key[len(prefix) :]
            close = difflib.get_close_matches(name, list(by_name), n=1, cutoff=0.6)
            hint = f"; did you mean aisb:{close[0]}?" if close else ""
            problems.append(
                f"{full_key}: unknown key{hint} (valid keys: " + ", ".join(sorted(by_name)) + ")"
            )

    given: dict[str, Any] = {"alert_emails_secret": f"{NAMESPACE}:alertEmails" in secret_keys}
    undecodable: set[str] = set()
    for key in keys:
        raw = config.get(prefix + key.name)
        if raw is None:
            if key.required:
                problems.append(
                    f"aisb:{key.name}: missing; set it with "
                    f"`pulumi config set --path 'aisb:{key.name}[0]' <value>` or in the stack file"
                )
                undecodable.add(key.field)
            continue
        try:
            decoded = _decode(key, raw)
        except v.InvalidValue as e:
            report(key.name, e)
            undecodable.add(key.field)
            continue
        if not (decoded == "" and key.default == ""):
            given[key.field] = decoded

    values, found = collect(
        OPTIONS,
        RULES,
        given,
        display=lambda field: f"aisb:{camel(field)}",
        known_bad=undecodable,
    )
    for path, err in found:
        report(_where(path), err)

    regions: dict[str, str | None] = {
        "aws:region": config.get("aws:region"),
        "aws-native:region": config.get("aws-native:region"),
    }
    for name, value in regions.items():
        if value is None:
            problems.append(f"{name}: missing; set it to the stack's AWS region")
        else:
            try:
                v.region(value)
            except v.InvalidValue as e:
                problems.append(f"{name}: {e}")
    if None not in regions.values() and regions["aws:region"] != regions["aws-native:region"]:
        problems.append(
            f"aws-native:region: got {regions['aws-native:region']!r}; expected the same region "
            f"as aws:region ({regions['aws:region']!r}): both providers must deploy to one region"
        )

    if problems:
        raise ConfigError(problems)
    for field in ("existing_alert_topic_arn", "existing_alert_topic_kms_key_arn"):
        values.pop(field, None)
    return Settings(str(regions["aws:region"]), values)


def stack_config() -> dict[str, str]:
    """All configuration the Pulumi engine passed to this program, as ``{"ns:key": raw}``."""
    from pulumi.runtime import config as runtime_config

    merged: dict[str, str] = dict(runtime_config.CONFIG.get())
    env = runtime_config.get_config_env()
    for k, val in env.items():
        merged.setdefault(k, val)
    return merged


def load() -> Settings:
    """Read and validate this stack's configuration."""
    from pulumi.runtime import config as runtime_config

    config = stack_config()
    return parse(config, {k for k in config if runtime_config.is_config_secret(k)})
