"""requirements.txt (what pip installs) and environment.yml (for conda users) pin the same versions,
and the running .venv has exactly those versions."""
from __future__ import annotations

import re
from importlib.metadata import version

import yaml

from conftest import ROOT


#: conda-forge names that differ from the PyPI names of the same package (conda name -> pip name).
CONDA_TO_PIP = {"psycopg2": "psycopg2-binary"}


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, sep, ver = line.partition("==")
            assert sep, f"requirements.txt: {line!r} is not pinned with =="
            pins[norm(name)] = ver.strip()
    return pins


def conda_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for line in dep["pip"]:
                name, _, ver = line.partition("==")
                pins[norm(name)] = ver
        elif not dep.startswith(("python", "pip")):
            name, sep, ver = dep.partition("=")
            assert sep, f"environment.yml: {dep!r} is not pinned"
            pins[norm(CONDA_TO_PIP.get(norm(name), name))] = ver.lstrip("=")
    return pins


def test_environment_yml_matches_requirements():
    pip, conda = pip_pins(), conda_pins()
    assert set(pip) == set(conda), (f"only in requirements.txt: {sorted(set(pip) - set(conda))}; "
                                     f"only in environment.yml: {sorted(set(conda) - set(pip))}")
    differ = {k: (pip[k], conda[k]) for k in pip if pip[k] != conda[k]}
    assert not differ, f"versions differ (requirements.txt, environment.yml): {differ}"


def test_environment_yml_python_matches_project():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    assert 'requires-python = ">=3.11"' in (ROOT / "pyproject.toml").read_text()


def test_venv_has_the_pinned_versions():
    wrong = {name: (pin, version(name)) for name, pin in pip_pins().items() if version(name) != pin}
    assert not wrong, f"installed versions differ from requirements.txt (pin, installed): {wrong}; run `make`"
