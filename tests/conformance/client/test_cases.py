"""Every client case names requirements that bind clients (conformance/.../client/cases.py)."""

from __future__ import annotations

import pytest

import canaux_schemas
from canaux_conformance.cases import all_cases, load_suites
from canaux_conformance.client.cases import CLIENT_SUITES, all_client_cases, client_case


def _index() -> dict[str, dict[str, object]]:
    return {entry["id"]: entry for entry in canaux_schemas.requirements()}


def test_every_client_suite_module_imports() -> None:
    assert load_suites(CLIENT_SUITES) == {}


def test_every_requirement_a_client_case_names_binds_clients() -> None:
    index = _index()
    wrong = {
        (case.id, req, index.get(req, {}).get("party"))
        for case in all_client_cases()
        for req in case.requirements
        if index.get(req, {}).get("party") not in ("client", "both")
    }
    assert not wrong, f"client cases naming requirements that do not bind clients: {wrong}"


def test_client_cases_are_not_server_cases() -> None:
    server_ids = {case.id for case in all_cases()}
    client_ids = {case.id for case in all_client_cases()}
    assert client_ids, "no client case registered"
    assert not server_ids & client_ids
    assert all(case_id.startswith("CL-") for case_id in client_ids)


def test_a_client_case_id_must_say_it_is_one() -> None:
    with pytest.raises(ValueError, match="must start with 'CL-'"):
        client_case(id="HS-99", requirements=("CLIENT-1",), title="x")


def test_another_function_under_a_taken_client_case_id_is_refused() -> None:
    taken = all_client_cases()[0]

    async def impostor(ctx: object) -> None:
        """Not the registered case."""

    with pytest.raises(ValueError, match=f"client case id '{taken.id}' registered twice"):
        client_case(id=taken.id, requirements=("CLIENT-1",), title="x")(impostor)
