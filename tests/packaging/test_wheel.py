"""The built wheel works on its own (DESIGN "Layout": one distribution, schemas as package data).

The wheel is built from a copy of the checkout, offline (``--no-build-isolation``), installed
with ``--no-deps`` into a fresh virtual environment, and exercised from there: every schema,
the vectors and the registry load through ``canaux_schemas`` from the installed files (never
the checkout), ``canaux`` and ``canaux_conformance`` import, and both console scripts answer
``--help``. Third-party dependencies are not reinstalled: a ``.pth`` file appends this
interpreter's site-packages *after* the new environment's own, so only they come from there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

import pytest

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


def run(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
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
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh environment with only the wheel installed in it; returns its bin directory."""
    root = tmp_path_factory.mktemp("wheel")
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
    (wheel,) = dist.glob("canaux-*.whl")

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
    dependencies = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(purelib) / "zz_test_dependencies.pth").write_text(
        "\n".join(sorted(dependencies)) + "\n", encoding="utf-8"
    )
    return environment / "bin"


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
