"""The built wheel works on its own (DESIGN "Layout": one distribution, schemas as package data).

The wheel is built from a copy of the checkout, offline (``--no-build-isolation``), installed
with ``--no-deps`` into a fresh virtual environment, and exercised from there: every schema,
the vectors and the registry load through ``canaux_schemas`` from the installed files (never
the checkout), ``canaux`` and ``canaux_conformance`` import, and both console scripts answer
``--help``. Third-party dependencies are not reinstalled: a ``.pth`` file appends this
interpreter's site-packages *after* the new environment's own, so only they come from there.

A second environment holds the wheel and ONLY its base dependencies (``pip install canaux``,
no extra): each distribution of their closure is linked in from this interpreter, nothing
else. There the client works against a real server, and ``canaux serve`` and
``canaux-conformance`` say which extra to install (pyproject.toml optional dependencies).
"""

from __future__ import annotations

import asyncio
import email.parser
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import venv
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from canaux.server import ServerConfig
from canaux.server.testing import running_server

__all__: list[str] = []

CHECKOUT = Path(__file__).resolve().parents[2]
# What the build reads; everything else (the venv, caches, other helpers' outputs) stays out.
SOURCES = ("pyproject.toml", "setup.py", "README.md", "schemas", "reference", "conformance")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
TIMEOUT = 300

PROBE = textwrap.dedent(
    """
    import json, sys
    import canaux_schemas
    from jsonschema import Draft202012Validator

    schemas = canaux_schemas.all_schemas()
    registry = canaux_schemas.registry()
    for path, schema in schemas.items():
        Draft202012Validator.check_schema(schema)
        assert registry.contents(schema["$id"]) == schema
    vector_files = canaux_schemas.vectors()
    check = Draft202012Validator(
        {"$ref": canaux_schemas.SCHEMA_BASE_URI + "vector.json"}, registry=registry
    )
    for document in vector_files:
        check.validate(document)

    import canaux, canaux_conformance
    print(json.dumps({
        "schemas": sorted(schemas),
        "vector_files": len(vector_files),
        "vectors": sum(len(d["vectors"]) for d in vector_files),
        "files": [canaux_schemas.__file__, canaux.__file__, canaux_conformance.__file__],
        "prefix": sys.prefix,
    }))
    """
)


# What `pip install canaux` must not bring: the suite's and the server's dependencies.
EXTRA_ONLY = ("hypothesis", "hypothesis_jsonschema", "rich", "starlette", "uvicorn", "jwt")

CLIENT_PROBE = textwrap.dedent(
    """
    import asyncio, importlib.util, json, sys
    import canaux, canaux.client, canaux.protocol
    from canaux import CentralWebSocketService, Client

    absent = [m for m in sys.argv[2].split(",") if importlib.util.find_spec(m) is not None]
    assert not absent, f"installed without an extra: {absent}"

    async def main():
        got = asyncio.Queue()
        async with Client(sys.argv[1]) as client:
            client.register_handler("conformance.packaging", got.put_nowait)
            await client.send("conformance.packaging", {"mark": "m1", "body": {"x": 1}})
            data = await asyncio.wait_for(got.get(), 20)
        print(json.dumps({"data": data, "file": canaux.__file__}))

    asyncio.run(main())
    """
)


def run(*command: str | Path, cwd: Path, status: int = 0) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == status, f"{command}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built offline from a copy of the checkout's sources."""
    root = tmp_path_factory.mktemp("build")
    source = root / "source"
    source.mkdir()
    for name in SOURCES:
        origin = CHECKOUT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=IGNORED)
        else:
            shutil.copy2(origin, source / name)
    dist = root / "dist"
    run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
        "--no-index", "--wheel-dir", dist, source, cwd=root,
    )  # fmt: skip
    (built,) = dist.glob("canaux-*.whl")
    return built


def fresh_environment(root: Path, wheel: Path) -> tuple[Path, Path]:
    """A new venv with the wheel and nothing else; returns its python and its purelib."""
    environment = root / "env"
    venv.EnvBuilder(with_pip=False, symlinks=True).create(environment)
    python = environment / "bin" / "python"
    run(
        sys.executable, "-m", "pip", "--python", python, "install", "--no-deps",
        "--no-index", wheel, cwd=root,
    )  # fmt: skip
    purelib = run(
        python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=root
    ).stdout.strip()
    return python, Path(purelib)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """A fresh environment with the wheel, every dependency reachable; its bin directory."""
    root = tmp_path_factory.mktemp("wheel")
    python, purelib = fresh_environment(root, wheel)
    dependencies = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (purelib / "zz_test_dependencies.pth").write_text(
        "\n".join(sorted(dependencies)) + "\n", encoding="utf-8"
    )
    return python.parent


def base_requirements(wheel: Path) -> list[Requirement]:
    """The wheel's ``Requires-Dist`` that apply without any extra."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        message = email.parser.Parser().parsestr(archive.read(name).decode("utf-8"))
    requirements = [Requirement(line) for line in message.get_all("Requires-Dist") or []]
    return [r for r in requirements if r.marker is None or r.marker.evaluate({"extra": ""})]


def closure(requirements: list[Requirement]) -> list[metadata.Distribution]:
    """The installed distributions these requirements pull in, transitively (no extras)."""
    seen: dict[str, metadata.Distribution] = {}
    pending = list(requirements)
    while pending:
        requirement = pending.pop()
        key = canonicalize_name(requirement.name)
        if key in seen:
            continue
        distribution = metadata.distribution(requirement.name)
        seen[key] = distribution
        for line in distribution.requires or []:
            nested = Requirement(line)
            if nested.marker is None or nested.marker.evaluate({"extra": ""}):
                pending.append(nested)
    return list(seen.values())


@pytest.fixture(scope="module")
def client_only(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """A fresh environment as ``pip install canaux`` leaves it: the wheel, its base dependencies
    (linked in from this interpreter) and nothing else; returns its bin directory."""
    root = tmp_path_factory.mktemp("client")
    python, purelib = fresh_environment(root, wheel)
    for distribution in closure(base_requirements(wheel)):
        site = Path(str(distribution.locate_file(""))).resolve()
        tops = {Path(str(f)).parts[0] for f in distribution.files or [] if ".." not in str(f)}
        for top in sorted(tops - {"__pycache__"}):
            if not (purelib / top).exists() and (site / top).exists():
                (purelib / top).symlink_to(site / top)
    return python.parent


def test_base_install_leaves_out_the_extras(wheel: Path) -> None:
    names = {canonicalize_name(r.name) for r in base_requirements(wheel)}
    assert not names & {"hypothesis", "hypothesis-jsonschema", "rich", "starlette", "uvicorn"}
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        message = email.parser.Parser().parsestr(archive.read(name).decode("utf-8"))
    by_extra: dict[str, tuple[str, str]] = {
        canonicalize_name(r.name): (str(r.specifier), str(r.marker))
        for r in map(Requirement, message.get_all("Requires-Dist") or [])
    }
    # The suite's pin stays exact, on its own extra.
    assert by_extra["hypothesis"] == ("==6.170.9", 'extra == "conformance"')
    assert by_extra["rich"][1] == 'extra == "conformance"'
    assert by_extra["uvicorn"][1] == by_extra["pyjwt"][1] == 'extra == "server"'
    assert set(message.get_all("Provides-Extra") or []) >= {
        "server", "conformance", "conformance-browser", "dev",
    }  # fmt: skip
    # The browser adapter's page is package data: the adapter is useless without it.
    with zipfile.ZipFile(wheel) as archive:
        assert "canaux_conformance/client/browser/eventsource.html" in archive.namelist()


def test_client_works_with_only_the_base_dependencies(client_only: Path) -> None:
    async def drive() -> str:
        async with running_server(ServerConfig(conformance=True)) as server:
            process = await asyncio.create_subprocess_exec(
                client_only / "python", "-c", CLIENT_PROBE, server.ws_url, ",".join(EXTRA_ONLY),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                cwd=client_only.parent,
            )  # fmt: skip
            stdout, stderr = await asyncio.wait_for(process.communicate(), TIMEOUT)
            assert process.returncode == 0, stderr.decode()
            return stdout.decode()

    report = json.loads(asyncio.run(drive()))
    assert report["data"] == {"mark": "m1", "body": {"x": 1}}
    assert Path(report["file"]).resolve().is_relative_to(client_only.parent.resolve())


@pytest.mark.parametrize(
    ("command", "extra"),
    [
        (("canaux", "serve", "--port", "0"), "server"),
        (("canaux-conformance", "--help"), "conformance"),
    ],
)
def test_command_without_its_extra_says_what_to_install(
    client_only: Path, command: tuple[str, ...], extra: str
) -> None:
    result = run(client_only / command[0], *command[1:], cwd=client_only.parent, status=2)
    assert f"pip install 'canaux[{extra}]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_wheel_ships_schemas_vectors_and_both_packages(installed: Path) -> None:
    probe = run(installed / "python", "-c", PROBE, cwd=installed.parent)
    report = json.loads(probe.stdout)
    environment = installed.parent.resolve()
    for module_file in report["files"]:
        path = Path(module_file).resolve()
        assert path.is_relative_to(environment), f"{path} is not inside {environment}"
        assert not path.is_relative_to(CHECKOUT)
    checkout = sorted(
        str(p.relative_to(CHECKOUT / "schemas"))
        for p in [
            *(CHECKOUT / "schemas").glob("*.json"),
            *(CHECKOUT / "schemas").glob("channels/*.json"),
        ]
        if "$schema" in json.loads(p.read_text(encoding="utf-8"))
    )
    assert report["schemas"] == checkout
    vector_files = sorted((CHECKOUT / "schemas" / "vectors").glob("*.json"))
    assert report["vector_files"] == len(vector_files) > 0
    assert report["vectors"] == sum(
        len(json.loads(p.read_text(encoding="utf-8"))["vectors"]) for p in vector_files
    )


@pytest.mark.parametrize("script", ["canaux", "canaux-conformance"])
def test_console_script_answers_help(installed: Path, script: str) -> None:
    result = run(installed / script, "--help", cwd=installed.parent)
    assert "usage" in result.stdout.lower()
