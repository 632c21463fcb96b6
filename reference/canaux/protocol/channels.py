"""Channel names, the channel catalogue and payload validation
(spec channels.md, standard-channels.md).

:class:`Catalogue` answers three questions the server asks for every subscribe and publish:
does the channel exist [CHANNEL-2, CHANNEL-3], may a client publish on it [CHANNEL-4], and does
the published ``data`` satisfy the channel's schema [CHANNEL-5]. Schemas come from
``canaux_schemas`` (``schemas/channels/*.json``, ``#/$defs/publish`` and ``#/$defs/event``);
each validator is compiled once, on first use, and kept.

Every publish is checked, so the check is the compiled validator of ``jsonschema-rs``
(about 0.3 µs for a valid chat message, against 30–40 µs for ``jsonschema``'s error list),
whose regular expressions are ECMA-262's as the specification says (``$`` does not match
before a final newline, as it does in Python's ``re``). It decides; ``jsonschema`` is asked
only for data already refused, to say where and why.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import jsonschema
import jsonschema.exceptions
import jsonschema.protocols
import jsonschema_rs
from referencing import Registry

import canaux_schemas
from canaux.protocol import frames

__all__ = [
    "CHANNEL_NAME_MAX_LENGTH",
    "CHANNEL_NAME_RE",
    "CONFORMANCE_ENTRIES",
    "CONFORMANCE_FAMILY",
    "RESERVED_SEGMENT",
    "STANDARD_CHANNELS",
    "Catalogue",
    "ChannelSpec",
    "PayloadProblem",
    "is_reserved",
    "is_valid_channel_name",
]

# [CHANNEL-1] name = segment *("." segment); segment = [a-z0-9] *[a-z0-9_-]. ``\Z`` rather
# than ``$`` so that a trailing newline never passes, as in ECMA-262 regular expressions.
CHANNEL_NAME_RE: Final = re.compile(r"^[a-z0-9][a-z0-9_-]*(?:\.[a-z0-9][a-z0-9_-]*)*\Z")
CHANNEL_NAME_MAX_LENGTH: Final = 128
RESERVED_SEGMENT: Final = "canaux"
CONFORMANCE_FAMILY: Final = "conformance.*"

Publisher = Literal["client", "server"]


def is_valid_channel_name(name: object) -> bool:
    """Whether ``name`` follows the channel grammar [CHANNEL-1] (a family ``p.*`` does not)."""
    return (
        isinstance(name, str)
        and len(name) <= CHANNEL_NAME_MAX_LENGTH
        and CHANNEL_NAME_RE.match(name) is not None
    )


def is_reserved(name: str) -> bool:
    """Whether ``name`` (a channel or a family) is reserved for the protocol [CHANNEL-6]."""
    return name.split(".", 1)[0] == RESERVED_SEGMENT


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """One catalogue entry: a channel name or a family ``prefix.*``, who publishes, its schema."""

    name: str
    publish: Publisher
    schema_id: str

    @property
    def is_family(self) -> bool:
        return self.name.endswith(".*")

    def to_welcome(self) -> frames.CatalogueEntry:
        """This entry as a ``welcome.channels`` member."""
        return frames.CatalogueEntry(name=self.name, publish=self.publish, schema_=self.schema_id)


STANDARD_CHANNELS: Mapping[str, ChannelSpec] = {
    spec.name: spec
    for spec in (
        ChannelSpec("chat", "client", canaux_schemas.CHANNEL_SCHEMAS["chat"]),
        ChannelSpec("playqueue", "client", canaux_schemas.CHANNEL_SCHEMAS["playqueue"]),
        ChannelSpec("system", "server", canaux_schemas.CHANNEL_SCHEMAS["system"]),
        ChannelSpec("progress", "server", canaux_schemas.CHANNEL_SCHEMAS["progress"]),
        ChannelSpec(CONFORMANCE_FAMILY, "client", canaux_schemas.CHANNEL_SCHEMAS["conformance"]),
    )
}
"""The standard channels and the conformance family, with the meanings of standard-channels.md."""

CONFORMANCE_ENTRIES: Mapping[str, ChannelSpec] = {
    spec.name: spec
    for spec in (
        ChannelSpec(
            "conformance.readonly", "server", canaux_schemas.CHANNEL_SCHEMAS["conformance"]
        ),
        ChannelSpec(
            "conformance.forbidden", "client", canaux_schemas.CHANNEL_SCHEMAS["conformance"]
        ),
    )
}
"""The exact entries inside the conformance family [CONF-4]: only the server publishes on
``conformance.readonly`` (CHANNEL-9); an access policy refuses every session on
``conformance.forbidden`` (CHANNEL-13)."""


@dataclass(frozen=True, slots=True)
class PayloadProblem:
    """Why ``data`` fails a channel schema: a pointer into the frame and a short message."""

    pointer: str
    """RFC 6901 pointer into the client frame, so it starts with ``/data`` [CHANNEL-5]."""
    message: str

    def __iter__(self) -> Iterator[str]:
        # Unpacks as ``(pointer, message)``, the shape the contract names.
        yield self.pointer
        yield self.message


def _escape(token: str | int) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def _describe(error: jsonschema.exceptions.ValidationError) -> tuple[list[str | int], str]:
    """Where the error is (path inside ``data``) and a short lowercase message."""
    path: list[str | int] = list(error.absolute_path)
    keyword = error.validator
    value: Any = error.validator_value
    schema: Any = error.schema if isinstance(error.schema, dict) else {}
    if keyword == "required" and isinstance(error.instance, dict):
        missing = [m for m in value if m not in error.instance]
        if missing:
            return [*path, missing[0]], "required"
    if keyword == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(schema.get("properties", {}))
        patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
        extra = [
            key
            for key in error.instance
            if key not in allowed and not any(p.search(key) for p in patterns)
        ]
        if extra:
            return [*path, extra[0]], "unexpected member"
    if keyword == "type":
        expected = error.validator_value
        names = " or ".join(expected) if isinstance(expected, list) else str(expected)
        return path, f"must be of type {names}"
    short = {
        "enum": "not an allowed value",
        "const": "not an allowed value",
        "pattern": "does not match the pattern",
        "minLength": "too short",
        "maxLength": "too long",
        "minItems": "too few items",
        "maxItems": "too many items",
        "minimum": f"must be at least {error.validator_value}",
        "maximum": f"must be at most {error.validator_value}",
        "exclusiveMinimum": f"must be greater than {error.validator_value}",
        "exclusiveMaximum": f"must be less than {error.validator_value}",
        "minProperties": "too few members",
        "maxProperties": "too many members",
        "oneOf": "matches none of the allowed shapes",
        "anyOf": "matches none of the allowed shapes",
        "not": "matches a forbidden shape",
    }
    if isinstance(keyword, str) and keyword in short:
        return path, short[keyword]
    text = error.message
    return path, (text[:1].lower() + text[1:])[:200]


def _is_tag_error(error: jsonschema.exceptions.ValidationError) -> bool:
    # A failed const/enum on a direct member of the branch's object: the member that tells
    # the branches apart ("op" of a playqueue command, "type" of a chat event).
    return error.validator in ("const", "enum") and len(error.relative_path) == 1


def _narrow(error: jsonschema.exceptions.ValidationError) -> jsonschema.exceptions.ValidationError:
    """Descend into a failed ``oneOf``/``anyOf`` to the branch the data was meant for.

    ``best_match`` alone reports "matches none" for a tagged union such as the playqueue
    commands; the useful answer is the error inside the branch whose tag matched, or the tag
    itself when no branch has it.
    """
    while error.validator in ("oneOf", "anyOf") and error.context:
        branches: dict[Any, list[jsonschema.exceptions.ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        live = [errs for errs in branches.values() if not any(map(_is_tag_error, errs))]
        if len(live) == 1:
            found = jsonschema.exceptions.best_match(live[0])
            if found is None:
                break
            error = found
            continue
        if not live:
            return next(e for e in error.context if _is_tag_error(e))
        break
    return error


class _Validator:
    """One schema part (``…#/$defs/publish``): a fast verdict, and the problem when refused."""

    __slots__ = ("_explain", "_fast")

    def __init__(self, key: str, registry: Registry[Any]) -> None:
        schema = {"$schema": _DRAFT_2020_12, "$ref": key}
        self._fast = jsonschema_rs.validator_for(
            schema,
            registry=jsonschema_rs.Registry([(uri, registry.contents(uri)) for uri in registry]),
        )
        self._explain = jsonschema.Draft202012Validator({"$ref": key}, registry=registry)

    def problem(self, data: Any) -> PayloadProblem | None:
        """``None`` when ``data`` is valid, else where it is not and why [CHANNEL-5]."""
        if self._fast.is_valid(data):
            return None
        error = jsonschema.exceptions.best_match(self._explain.iter_errors(data))
        if error is not None:
            path, message = _describe(_narrow(error))
        else:
            # Only jsonschema-rs refuses: a pattern that Python's ``re`` matches and ECMA-262
            # does not (a final newline before ``$``). Its own first error says where.
            fast = next(iter(self._fast.iter_errors(data)))
            path, message = (
                list(fast.instance_path),
                _FAST_KINDS.get(type(fast.kind).__name__, fast.message[:200]),
            )
        return PayloadProblem("/data" + "".join("/" + _escape(p) for p in path), message)


_DRAFT_2020_12: Final = "https://json-schema.org/draft/2020-12/schema"
_FAST_KINDS: Final = {"Pattern": "does not match the pattern"}


class Catalogue:
    """The channels a server offers [CHANNEL-2], in the order it announces them."""

    def __init__(
        self,
        entries: Iterable[ChannelSpec],
        *,
        registry: Registry[Any] | None = None,
    ) -> None:
        self._entries: tuple[ChannelSpec, ...] = tuple(entries)
        self._exact: dict[str, ChannelSpec] = {}
        families: list[tuple[str, ChannelSpec]] = []
        for entry in self._entries:
            self._check_entry(entry)
            if entry.name in self._exact or any(entry.name == f.name for _, f in families):
                raise ValueError(f"channel {entry.name!r} is listed twice")
            if entry.is_family:
                families.append((entry.name[:-1], entry))  # keep the dot: "p." prefixes
            else:
                self._exact[entry.name] = entry
        # The most specific family wins when families nest ("a.b.*" before "a.*").
        self._families = sorted(families, key=lambda item: len(item[0]), reverse=True)
        # None: canaux_schemas.registry(), looked up on first use so that building a catalogue
        # never reads schema files.
        self._registry = registry
        # Per part ("publish", "event"), by schema id: looked up for every publish.
        self._validators: dict[str, dict[str, _Validator | None]] = {"publish": {}, "event": {}}

    @staticmethod
    def _check_entry(entry: ChannelSpec) -> None:
        base = entry.name[:-2] if entry.is_family else entry.name
        if not is_valid_channel_name(base) or len(entry.name) > CHANNEL_NAME_MAX_LENGTH:
            raise ValueError(f"{entry.name!r} is not a channel name or family [CHANNEL-1]")
        if entry.publish not in ("client", "server"):
            raise ValueError(f"{entry.name!r}: publish must be 'client' or 'server'")
        # [CHANNEL-6] "servers MUST NOT put them in the catalogue".
        if is_reserved(entry.name):
            raise ValueError(f"{entry.name!r} is reserved for the protocol [CHANNEL-6]")
        # [CHANNEL-6] standard names keep the meaning the spec gives them.
        standard = STANDARD_CHANNELS.get(entry.name)
        if standard is not None and standard != entry:
            raise ValueError(f"{entry.name!r} is a standard channel and must be {standard}")
        if standard is None and base.split(".", 1)[0] == "conformance":
            listed = CONFORMANCE_ENTRIES.get(entry.name)
            if listed is None:
                raise ValueError(
                    f"{entry.name!r}: the conformance family is 'conformance.*' and its exact "
                    f"entries {sorted(CONFORMANCE_ENTRIES)} [CONF-2, CONF-4]"
                )
            if listed != entry:
                raise ValueError(f"{entry.name!r} is a conformance entry and must be {listed}")

    @classmethod
    def standard(cls, *, conformance: bool = False) -> Catalogue:
        """The reference catalogue: chat, playqueue, system, progress, and optionally
        ``conformance.*`` (servers may leave it out in production [CONF-2])."""
        return cls(
            spec
            for spec in STANDARD_CHANNELS.values()
            if conformance or spec.name != CONFORMANCE_FAMILY
        )

    @property
    def entries(self) -> tuple[ChannelSpec, ...]:
        return self._entries

    def __iter__(self) -> Iterator[ChannelSpec]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.lookup(name) is not None

    def lookup(self, name: str) -> ChannelSpec | None:
        """The entry covering channel ``name``, or ``None`` when it is not offered [CHANNEL-2].

        A name matches family ``p.*`` iff it starts with ``p.`` and has at least one more
        segment; a family name itself (``p.*``) is not a channel.
        """
        found = self._exact.get(name)
        if found is not None:
            return found
        if not is_valid_channel_name(name):
            return None
        for prefix, entry in self._families:
            # A valid name never ends with ".", so a prefix match leaves >= one segment.
            if name.startswith(prefix):
                return entry
        return None

    def to_welcome(self) -> list[frames.CatalogueEntry]:
        """The ``welcome.channels`` member [HANDSHAKE-9]."""
        return [entry.to_welcome() for entry in self._entries]

    def _validator(self, schema_id: str, part: str) -> _Validator | None:
        compiled = self._validators[part]
        if schema_id in compiled:
            return compiled[schema_id]
        key = f"{schema_id}#/$defs/{part}"
        registry = self._registry if self._registry is not None else canaux_schemas.registry()
        try:
            document = registry.contents(schema_id)
        except LookupError as exc:
            raise LookupError(f"schema {schema_id!r} is not in the registry") from exc
        defs = document.get("$defs", {}) if isinstance(document, dict) else {}
        validator: _Validator | None = None
        if part in defs:
            validator = _Validator(key, registry)
        compiled[schema_id] = validator
        return validator

    def _validate(self, name: str, data: Any, part: str) -> PayloadProblem | None:
        entry = self.lookup(name)
        if entry is None:
            raise KeyError(name)
        validator = self._validator(entry.schema_id, part)
        if validator is None:
            return PayloadProblem("/data", f"channel {name} has no {part} schema")
        return validator.problem(data)

    def validate_publish(self, name: str, data: Any) -> PayloadProblem | None:
        """``None`` when ``data`` is a valid client publish on channel ``name``, else the problem
        with a pointer into the publish frame [CHANNEL-5]. Raise :class:`KeyError` for a channel
        the catalogue does not offer."""
        return self._validate(name, data, "publish")

    def validate_event(self, name: str, data: Any) -> PayloadProblem | None:
        """Same as :meth:`validate_publish` for the data of an ``event`` (server-originated
        publishes, e.g. the HTTP publish endpoint)."""
        return self._validate(name, data, "event")
