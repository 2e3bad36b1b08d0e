"""One declaration per argument.

An argument's name, type and description are its field in the component's ``Args`` TypedDict
(the package schema other Pulumi languages use is inferred from it); its default and its check
are an ``Option`` beside it, in the component's ``OPTIONS``; a check over several arguments is a
``Rule`` in its ``RULES``. The component resolves its arguments with them, ``IotSecurityBaseline``
reuses its children's options and rules for the arguments it passes down, and the stack
configuration (keys, types, defaults, descriptions, ``Pulumi.yaml``, the README's tables) is
derived from the baseline's: nothing is stated twice.
"""

from __future__ import annotations

import ast
import difflib
import functools
import inspect
import itertools
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar, cast

from aisb.validation import InvalidValue

ArgsT = TypeVar("ArgsT")
"""A component's ``Args`` TypedDict."""

Problem = tuple[str, InvalidValue]
"""An argument and what is wrong with its value."""


@dataclass(frozen=True)
class Option:
    """The default and the check of one argument."""

    default: Any = None
    """The value when the argument is not given; None leaves it unset."""
    check: Callable[[Any], Any] | None = None
    """Validates a given value and returns it normalised; raises ``InvalidValue``."""


@dataclass(frozen=True)
class Rule:
    """A check over several arguments, run once each of them is valid on its own.

    ``check(values)`` returns the problems it finds, each against the argument to blame. It may
    also normalise ``values`` (a default that must shrink to fit another argument, say).
    """

    fields: tuple[str, ...]
    check: Callable[[dict[str, Any]], list[Problem]]
    names: Mapping[str, str] = field(default_factory=dict)
    """How the check's own argument names map to the arguments of the caller (a component
    that passes its arguments down under other names reuses the child's rules renamed)."""

    def renamed(self, names: Mapping[str, str]) -> Rule:
        """This rule over arguments that another component calls ``names[field]``."""
        current = {f: self.names.get(f, f) for f in self.fields}
        return replace(self, names={f: names.get(n, n) for f, n in current.items()})

    def run(
        self, values: dict[str, Any], display: Callable[[str], str] = lambda n: n
    ) -> list[Problem]:
        """Check ``values`` (the caller's names). What a problem says it expects may name the
        rule's arguments as ``{field}``: they are shown as ``display`` renders the caller's
        names (``cert_max_age_days``, or ``aisb:certMaxAgeDays`` in stack config)."""
        local = {f: values.get(self.names.get(f, f)) for f in self.fields}
        problems = self.check(local)
        for f in self.fields:  # normalised values go back under the caller's names
            values[self.names.get(f, f)] = local[f]

        def said(expected: str) -> str:
            for f in self.fields:
                expected = expected.replace("{" + f + "}", display(self.names.get(f, f)))
            return expected

        return [
            (
                self.names.get(_head(arg), _head(arg)) + arg[len(_head(arg)) :],
                InvalidValue(err.value, said(err.expected), field=err.field),
            )
            for arg, err in problems
        ]


def _head(path: str) -> str:
    """The argument a path such as ``rules[2].operator`` starts with."""
    return re.split(r"[\[.]", path, maxsplit=1)[0]


def collect(
    options: Mapping[str, Option],
    rules: Sequence[Rule],
    args: Mapping[str, Any],
    display: Callable[[str], str] = lambda n: n,
    known_bad: Collection[str] = (),
) -> tuple[dict[str, Any], list[Problem]]:
    """Every argument's value (given, or its default) and every problem, all at once; rules
    name other arguments as ``display`` renders them. Rules over ``known_bad`` arguments
    (already reported by the caller) are not run."""
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    for name, option in options.items():
        given = args.get(name)
        if given is None:
            values[name] = option.default
            continue
        try:
            values[name] = option.check(given) if option.check else given
        except InvalidValue as err:
            # A check may say which item is at fault (``target_groups[2]``): keep the item,
            # under this caller's name for the argument.
            field = err.field if isinstance(err.field, str) else ""
            problems.append((name + field[len(_head(field)) :], err))
    bad = {_head(name) for name, _ in problems} | set(known_bad)
    for rule in rules:
        fields = {rule.names.get(f, f) for f in rule.fields}
        if not fields & bad:
            problems += rule.run(values, display)
    return values, problems


def declared(typed_dict: type) -> frozenset[str]:
    """The argument names a component's ``Args`` TypedDict declares, inherited ones included."""
    keys: frozenset[str] = typed_dict.__required_keys__ | typed_dict.__optional_keys__  # type: ignore[attr-defined]
    return keys


def check_declared(component: str, args: Mapping[str, Any], typed_dict: type) -> None:
    """A ``ValueError`` for the first argument ``typed_dict`` does not declare, naming the
    closest declared one: a misspelled argument must never be ignored silently (a typo in
    ``cert_max_age_days`` would otherwise deploy the default)."""
    if not isinstance(args, Mapping):
        raise ValueError(
            f"{component}: arguments must be a mapping of names to values, got {args!r}"
        )
    names = declared(typed_dict)
    unknown = sorted(str(key) for key in args if key not in names)
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, sorted(names), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"{component}: unknown argument {key!r}{hint} "
            f"({typed_dict.__name__} declares {', '.join(sorted(names))})"
        )


def resolve(
    component: str,
    options: Mapping[str, Option],
    rules: Sequence[Rule],
    args: Mapping[str, Any],
    *,
    declared_by: type[ArgsT],
) -> ArgsT:
    """The arguments' values, or a ``ValueError`` naming the component, the first argument at
    fault (one ``declared_by``, the component's ``Args``, does not declare first), its value
    and what is accepted."""
    check_declared(component, args, declared_by)
    values, problems = collect(options, rules, args)
    if problems:
        name, err = problems[0]
        raise ValueError(f"{component}: argument {name!r} {err}")
    # Every declared option has its value now, given or default: the Args with defaults filled.
    return cast(ArgsT, values)


def renamed(options: Mapping[str, Option], names: Mapping[str, str]) -> dict[str, Option]:
    """A child's options under the names its parent gives them (``{child: parent}``)."""
    return {names[child]: option for child, option in options.items() if child in names}


@dataclass(frozen=True)
class Exposure(Generic[ArgsT]):
    """Arguments of a child component that a parent exposes under names of its own: the one
    place a parent says so. The parent's options, rules and argument docs for them are the
    child's (``parent_options``, ``parent_rules``, ``docs``), and what it passes down is
    typed as the child's ``Args`` (``passed``)."""

    args: type[ArgsT]
    """The child's ``Args`` TypedDict."""
    options: Mapping[str, Option]
    rules: Sequence[Rule]
    names: Mapping[str, str]
    """``{child's argument: parent's argument}``."""
    checked_here: frozenset[str] = frozenset()
    """Child arguments whose option the parent takes from another exposure (one parent
    argument passed to two children is declared by the first)."""

    def __post_init__(self) -> None:
        undeclared = sorted(set(self.names) - declared(self.args))
        if undeclared:
            raise TypeError(f"{self.args.__name__} declares no {', '.join(undeclared)}")

    def parent_options(self) -> dict[str, Option]:
        return renamed(
            {k: o for k, o in self.options.items() if k not in self.checked_here}, self.names
        )

    def parent_rules(self) -> tuple[Rule, ...]:
        return tuple(rule.renamed(self.names) for rule in self.rules)

    def docs(self) -> dict[str, str]:
        """The child's description of each exposed argument, under the parent's name."""
        child = field_docs(self.args)
        return {parent: child[name] for name, parent in self.names.items() if name in child}

    def passed(self, values: Mapping[str, Any]) -> ArgsT:
        """The exposed arguments' resolved values, under the child's names."""
        return cast(ArgsT, {name: values[parent] for name, parent in self.names.items()})


def exposed_docs(own: Mapping[str, str], exposures: Sequence[Exposure[Any]]) -> dict[str, str]:
    """A parent's argument docs: its own, and for arguments it does not describe itself, the
    first child's that it exposes them from."""
    docs: dict[str, str] = {}
    for exposure in exposures:
        for name, doc in exposure.docs().items():
            docs.setdefault(name, doc)
    return {**docs, **own}


def field_docs(typed_dict: Any) -> dict[str, str]:
    """The docstring under each field of a TypedDict (the description of each argument).
    Cached: the source does not change while the program runs; callers must not modify it."""
    return _field_docs(typed_dict)


@functools.cache
def _field_docs(typed_dict: Any) -> dict[str, str]:
    source = inspect.getsource(typed_dict)
    body = ast.parse(source).body[0]
    assert isinstance(body, ast.ClassDef)
    docs: dict[str, str] = {}
    statements = body.body
    for node, after in itertools.pairwise(statements):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def camel(name: str) -> str:
    """``cert_max_age_days`` -> ``certMaxAgeDays``: how the stack config and the package
    schema name an argument."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def snake(name: str) -> str:
    """``certMaxAgeDays`` -> ``cert_max_age_days``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
