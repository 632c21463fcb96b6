"""Package layout: three import packages from three top-level folders.

`canaux` lives in reference/, `canaux_conformance` in conformance/, and the JSON Schemas
folder schemas/ is itself the package `canaux_schemas`, so the repository holds one copy of
every schema and installed code reads them as package data.
"""

from setuptools import find_packages, setup

ROOTS = {"canaux": "reference", "canaux_conformance": "conformance"}

packages = ["canaux_schemas"]
package_dir = {"canaux_schemas": "schemas"}
for name, root in ROOTS.items():
    packages += [p for p in find_packages(root) if p == name or p.startswith(name + ".")]
    package_dir[name] = f"{root}/{name}"

setup(packages=packages, package_dir=package_dir)
