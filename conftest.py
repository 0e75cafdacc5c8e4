"""Collect the doctests of studies/, analysis/ and reports/ from the installed modules.

These folders install as ``rnnprobe.studies``, ``rnnprobe.analysis`` and
``rnnprobe.reports`` (pyproject's package-dir mapping). Left to itself,
``--doctest-modules`` would import each file a second time under its folder's
name (``studies.vanishing``); here each doctest module is the installed one
(``rnnprobe.studies.vanishing``), imported once.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from _pytest.doctest import DoctestModule

ROOT = Path(__file__).resolve().parent
#: folder at the repository's top level -> the package it installs as
INSTALLED_AS = {"studies": "rnnprobe.studies", "analysis": "rnnprobe.analysis", "reports": "rnnprobe.reports"}


def installed_name(path: Path) -> str:
    """The module name a file of one of these folders installs as."""
    rel = path.resolve().relative_to(ROOT)
    package = INSTALLED_AS[rel.parts[0]]
    return package if rel.name == "__init__.py" else f"{package}.{rel.stem}"


class InstalledDoctestModule(DoctestModule):
    """The doctests of a file, run in the module the package installs (not a second copy of the file)."""

    def _getobj(self):
        return importlib.import_module(installed_name(self.path))


class InstalledPackage(pytest.Directory):
    """One of the folders: a doctest module per ``.py`` file (they hold no test files)."""

    def collect(self):
        if not self.config.getoption("doctestmodules"):
            return
        for path in sorted(self.path.glob("*.py")):
            if not self.ihook.pytest_ignore_collect(collection_path=path, config=self.config):
                yield InstalledDoctestModule.from_parent(self, path=path)


def pytest_collect_directory(path: Path, parent):
    if path.parent == ROOT and path.name in INSTALLED_AS:
        return InstalledPackage.from_parent(parent, path=path)
    return None
