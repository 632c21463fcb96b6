"""mkdocs hooks: put spec/, schemas/ and generated pages into the site at build time.

Nothing is copied into docs/: the spec pages are read from ``spec/`` in place, the schema
reference and the AsyncAPI document are generated from ``schemas/``, the compliance matrix
from a conformance ``report.json`` (``reports/demo/report.json``, written by ``make demo``)
and the benchmarks page from ``benchmarks/results/``. Mermaid is vendored from
``docs/node_modules`` (installed from the npm registry by ``make docs-deps``) so the built
site loads nothing from a CDN.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

_REPO = Path(__file__).resolve().parents[1]
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

import canaux_schemas  # noqa: E402
from docs.sitegen import asyncapi, benchmarks, compliance, schema_pages  # noqa: E402
from docs.sitegen.paths import BENCHMARK_RESULTS, NODE_MODULES, SCHEMAS, SPEC  # noqa: E402
from docs.sitegen.spec_pages import spec_sources  # noqa: E402

__all__ = ["on_config", "on_files"]

MERMAID = NODE_MODULES / "mermaid" / "dist" / "mermaid.min.js"
REPORT_ENV = "CANAUX_SITE_REPORT"
"""Set to a report.json path to build the compliance matrix from another run."""
BENCHMARKS_ENV = "CANAUX_SITE_BENCHMARKS"
"""Set to a folder to build the benchmarks section from other results."""


def _report_path() -> Path:
    override = os.environ.get(REPORT_ENV)
    return Path(override) if override else compliance.DEFAULT_REPORT


def _benchmarks_dir() -> Path:
    override = os.environ.get(BENCHMARKS_ENV)
    return Path(override) if override else BENCHMARK_RESULTS


def _expand_nav(items: list[Any]) -> list[Any]:
    """Replace the placeholders of mkdocs.yml's nav with the generated page lists."""
    expanded: list[Any] = []
    for item in items:
        if isinstance(item, dict):
            ((title, value),) = item.items()
            if value == "spec/index.md":
                value = [f"spec/{page.name}" for page in spec_sources()]
            elif value == "schemas/index.md":
                value = [
                    "schemas/index.md",
                    *(schema_pages.page_uri(p) for p in canaux_schemas.all_schemas()),
                    "asyncapi.md",
                ]
            elif value == "benchmarks.md":
                results = benchmarks.result_files(_benchmarks_dir())
                if not results:
                    continue
                value = ["benchmarks/index.md", *(f"benchmarks/{p.name}" for p in results)]
            elif isinstance(value, list):
                value = _expand_nav(value)
            expanded.append({title: value})
        else:
            expanded.append(item)
    return expanded


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    if config.nav is not None:
        config.nav = _expand_nav(config.nav)
    # `mkdocs serve` rebuilds when a source of a generated page changes.
    for source in (SPEC, SCHEMAS, _report_path().parent, _benchmarks_dir()):
        if source.is_dir() and str(source) not in config.watch:
            config.watch.append(str(source))
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    if not SPEC.is_dir():
        raise PluginError(f"no spec/ folder at {SPEC}")
    for path in sorted(SPEC.iterdir()):
        if path.is_file():
            files.append(File.generated(config, f"spec/{path.name}", abs_src_path=str(path)))

    schemas = canaux_schemas.all_schemas()
    for schema_path, schema in schemas.items():
        raw = SCHEMAS / schema_path
        files.append(File.generated(config, f"schemas/{schema_path}", abs_src_path=str(raw)))
        page = schema_pages.render_schema_page(schema_path, schema)
        files.append(File.generated(config, schema_pages.page_uri(schema_path), content=page))
    files.append(
        File.generated(config, "schemas/index.md", content=schema_pages.render_index(schemas))
    )

    document = asyncapi.build_document(schemas)
    files.append(File.generated(config, "asyncapi.md", content=asyncapi.render_page(document)))
    files.append(
        File.generated(config, "asyncapi.json", content=json.dumps(document, indent=2) + "\n")
    )
    files.append(
        File.generated(
            config,
            "asyncapi.yaml",
            content=yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100),
        )
    )

    report = _report_path()
    files.append(File.generated(config, "compliance.md", content=compliance.render_page(report)))
    results_dir = _benchmarks_dir()
    results = benchmarks.result_files(results_dir)
    if results:
        index = benchmarks.render_index(results)
        files.append(File.generated(config, "benchmarks/index.md", content=index))
        for path in benchmarks.site_files(results_dir):
            uri = "benchmarks/" + path.relative_to(results_dir).as_posix()
            files.append(File.generated(config, uri, abs_src_path=str(path)))

    if not MERMAID.is_file():
        raise PluginError(
            f"{MERMAID} is missing: run `make docs-deps` (npm ci in docs/) so the site "
            "ships its own copy of mermaid instead of loading it from a CDN"
        )
    files.append(File.generated(config, "assets/vendor/mermaid.min.js", abs_src_path=str(MERMAID)))
    return files
