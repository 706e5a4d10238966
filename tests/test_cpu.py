"""The CPU thread policy (cnnlib.cpu) reaches every place a course torch process starts from: the installed
course kernelspec, the grading kernels' environment (python -m cnngrader, then cnngrader/sandbox/launcher.py's
allow-list) and this test suite's own environment."""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys

from jupyter_client.kernelspec import KernelSpecManager

from cnnlib import cpu
from conftest import ROOT, course_copy, load_script


def test_policy_is_in_the_installed_course_kernelspec():
    """What Jupyter starts the course kernel with (the notebooks, `make lab`, the notebook tests)."""
    spec = KernelSpecManager().get_kernel_spec(cpu.KERNEL)
    missing = {k: v for k, v in cpu.POLICY.items() if spec.env.get(k) != v}
    assert not missing, (f"the {cpu.KERNEL!r} kernelspec ({spec.resource_dir}) lacks {missing}: "
                         f"run `.venv/bin/python -m cnnlib.cpu kernelspec` (make setup does)")


def test_policy_is_in_this_test_process_and_its_children():
    assert {k: os.environ.get(k) for k in cpu.POLICY} == cpu.POLICY
    out = subprocess.run([sys.executable, "-c", "import os, json; print(json.dumps(dict(os.environ)))"],
                         capture_output=True, text=True, check=True).stdout
    assert cpu.POLICY.items() <= json.loads(out).items()


class Built(Exception):
    """Raised by the stand-in fork servers to stop the grader once its environment is built."""


def test_policy_reaches_the_grading_kernels(tmp_path, monkeypatch):
    """The environment python -m cnngrader hands to nbgrader carries the policy, and the sandbox launcher
    keeps it when it strips everything else."""
    from cnngrader.apps import autograde
    from cnngrader.sandbox import launcher as sandbox
    course = course_copy(tmp_path / "course")
    (course / "submitted" / "ann" / "05_exercises").mkdir(parents=True)
    (course / "submitted" / "ann" / "05_exercises" / "exercises.ipynb").write_text("{}")
    built = {}

    def servers(env, n):
        built.update(env)
        raise Built

    for key in cpu.POLICY:
        monkeypatch.delenv(key, raising=False)  # the grader must add it, not inherit it from this suite
    monkeypatch.setattr(autograde, "ForkServers", servers)
    with contextlib.suppress(Built):  # the grader reports the crash of its (stand-in) servers and returns
        autograde.main(["--root", str(course)])
    assert built, "python -m cnngrader did not reach its fork servers; update this test"
    assert cpu.POLICY.items() <= built.items()
    # the grader starts the launcher with launcher_env(), the launcher gives the kernel clean_env()
    monkeypatch.setattr(os, "environ", sandbox.launcher_env(built))
    kernel_env = sandbox.clean_env(tmp_path / "private")
    assert cpu.POLICY.items() <= kernel_env.items()
    assert autograde.DB_ENV not in kernel_env  # the allow-list still drops the rest


def test_an_instructors_own_value_is_kept():
    env = cpu.apply({"OMP_WAIT_POLICY": "ACTIVE"})
    assert env["OMP_WAIT_POLICY"] == "ACTIVE"
    assert cpu.apply({}) == cpu.POLICY


def test_kernelspec_command_adds_the_policy_and_keeps_the_rest(tmp_path):
    kernel = tmp_path / "share" / "jupyter" / "kernels" / "k"
    kernel.mkdir(parents=True)
    original = {"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "K",
                "language": "python", "env": {"MPLBACKEND": "agg"}}
    (kernel / "kernel.json").write_text(json.dumps(original))
    for _ in range(2):  # idempotent: setup may run again
        assert cpu.main(["kernelspec", "k", "--prefix", str(tmp_path)]) == 0
    spec = json.loads((kernel / "kernel.json").read_text())
    assert spec == {**original, "env": {"MPLBACKEND": "agg", **cpu.POLICY}}


def test_kernelspec_command_explains_a_missing_kernel(tmp_path, capsys):
    assert cpu.main(["kernelspec", "nope", "--prefix", str(tmp_path)]) == 1
    assert "register the kernel first" in capsys.readouterr().err


def test_makefile_setup_writes_the_kernelspec_policy():
    """The setup step that registers the kernel also writes the policy into it (from cnnlib.cpu)."""
    recipe = (ROOT / "Makefile").read_text().split("$(STAMP): ", 1)[1].split("\n\n", 1)[0]
    install = recipe.index("ipykernel install")
    assert "-m cnnlib.cpu kernelspec $(KERNEL)" in recipe[install:]
