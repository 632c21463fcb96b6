"""``GET /asyncapi.json``: the server's description of itself (http-publish.md HTTP-7).

Optional: a server that answers 404 does not offer it. One that offers it must describe every
entry of the catalogue its ``welcome`` lists, with payloads that point at that entry's schema,
and serve every schema document the description refers to.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit, urlunsplit

import httpx

from canaux_conformance.cases import CaseContext, case
from canaux_conformance.outcomes import CaseFailed, CaseSkipped

__all__ = ["addresses", "doc_01_asyncapi_describes_the_catalogue", "pointer", "refs"]

MOST_DOCUMENTS = 64
"""Most distinct schema documents the case fetches."""


def document_url(ws_url: str) -> str:
    """``ws://h:p/prefix/ws`` -> ``http://h:p/prefix/asyncapi.json`` (beside ``/ws``)."""
    parts = urlsplit(ws_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    path = parts.path.rstrip("/")
    prefix = path[: -len("/ws")] if path.endswith("/ws") else path
    return urlunsplit((scheme, parts.netloc, prefix + "/asyncapi.json", "", ""))


def refs(node: Any) -> Iterator[str]:
    """Every ``$ref`` string in ``node``, depth first."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def pointer(document: Any, fragment: str) -> Any:
    """The node at JSON pointer ``fragment`` (``/a/b``) or ``KeyError``."""
    node = document
    for raw in fragment.split("/")[1:] if fragment else []:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        elif isinstance(node, Mapping) and token in node:
            node = node[token]
        else:
            raise KeyError(fragment)
    return node


def addresses(address: str, entry: str) -> bool:
    """Whether an AsyncAPI channel ``address`` is the one of catalogue entry ``entry`` [HTTP-7]:
    the name itself, or for a family ``p.*`` the address ``p.{parameter}``."""
    if not entry.endswith(".*"):
        return address == entry
    prefix = entry[:-1]
    rest = address[len(prefix) :]
    return address.startswith(prefix) and rest.startswith("{") and rest.endswith("}")


def _internal(document: Any, node: Any, depth: int = 0) -> Any:
    """``node`` with internal references (``#/...``) followed, to a bounded depth."""
    while isinstance(node, Mapping) and str(node.get("$ref", "")).startswith("#") and depth < 16:
        node = pointer(document, str(node["$ref"])[1:])
        depth += 1
    return node


@case(
    id="DOC-01",
    requirements=("HTTP-7",),
    title="GET /asyncapi.json (when offered): every catalogue entry, every $ref served",
)
async def doc_01_asyncapi_describes_the_catalogue(ctx: CaseContext) -> None:
    """Without credentials, ``GET /asyncapi.json`` answers 200 with an AsyncAPI 3.0 document.
    Every external ``$ref`` resolves, relative to the document's URL, to a JSON document the
    server serves with 200, at the pointer the reference names. Every entry of the welcome's
    catalogue is one channel of the document whose messages refer to that entry's schema
    (the document whose ``$id`` is the entry's ``schema``): its ``$defs/event``, and its
    ``$defs/publish`` when clients publish [HTTP-7]."""
    if ctx.server is None:
        raise CaseSkipped("no welcome: the catalogue is unknown")
    url = document_url(ctx.target.ws_url)
    async with httpx.AsyncClient(timeout=ctx.timeout, trust_env=False) as http:
        response = await http.get(url)
        ctx.note(f"GET {url} -> {response.status_code} {response.text[:200]}")
        if response.status_code == 404:
            raise CaseSkipped("the server does not offer GET /asyncapi.json", applicable=False)
        try:
            document = response.json() if response.status_code == 200 else None
        except ValueError:
            document = None
        if not isinstance(document, dict) or not str(document.get("asyncapi", "")).startswith(
            "3.0"
        ):
            raise CaseFailed(
                f"GET {url} without credentials answered {response.status_code} "
                f"{response.text[:200]!r}, not an AsyncAPI 3.0 document",
                requirement="HTTP-7",
            )
        schemas: dict[str, Any] = {}
        for ref in sorted(set(refs(document))):
            if ref.startswith("#"):
                try:
                    pointer(document, ref[1:])
                except KeyError:
                    raise CaseFailed(
                        f"the document's internal $ref {ref!r} points at nothing",
                        requirement="HTTP-7",
                    ) from None
                continue
            target, fragment = urldefrag(urljoin(url, ref))
            if target not in schemas:
                if len(schemas) >= MOST_DOCUMENTS:
                    raise CaseSkipped(f"the document refers to more than {MOST_DOCUMENTS} files")
                got = await http.get(target)
                ctx.note(f"GET {target} -> {got.status_code}")
                try:
                    schemas[target] = got.json() if got.status_code == 200 else None
                except ValueError:
                    schemas[target] = None
            if schemas[target] is None:
                raise CaseFailed(
                    f"$ref {ref!r} of the document: GET {target} is not a JSON document served"
                    " with 200",
                    requirement="HTTP-7",
                )
            try:
                pointer(schemas[target], fragment)
            except KeyError:
                raise CaseFailed(
                    f"$ref {ref!r}: {target} has nothing at #{fragment}", requirement="HTTP-7"
                ) from None

    def described(channel: Any) -> set[tuple[str, str]]:
        """(schema $id, fragment) of every external $ref under the channel's messages."""
        found: set[tuple[str, str]] = set()
        messages = channel.get("messages", {}) if isinstance(channel, Mapping) else {}
        for message in messages.values() if isinstance(messages, Mapping) else ():
            for ref in refs(_internal(document, message)):
                if ref.startswith("#"):
                    continue
                target, fragment = urldefrag(urljoin(url, ref))
                schema = schemas.get(target)
                if isinstance(schema, Mapping):
                    found.add((str(schema.get("$id", target)), fragment))
        return found

    channels = document.get("channels")
    if not isinstance(channels, Mapping):
        raise CaseFailed("the document has no channels object", requirement="HTTP-7")
    for entry in ctx.server.catalogue:
        name = str(entry.get("name"))
        wanted = {(str(entry.get("schema")), "/$defs/event")}
        if entry.get("publish") == "client":
            wanted.add((str(entry.get("schema")), "/$defs/publish"))
        found = [
            described(channel)
            for channel in channels.values()
            if isinstance(channel, Mapping) and addresses(str(channel.get("address")), name)
        ]
        if not found:
            raise CaseFailed(
                f"no channel of the document has the address of catalogue entry {name!r}",
                requirement="HTTP-7",
            )
        if not any(wanted <= refs_found for refs_found in found):
            raise CaseFailed(
                f"the channel of catalogue entry {name!r} has no messages referring to "
                f"{sorted(f'{s}#{f}' for s, f in wanted)}",
                requirement="HTTP-7",
            )
