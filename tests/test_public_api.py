"""The public API: ``import signal_core as sc`` gives every name a notebook needs, loaded on first use,
each documented with units and a runnable example; the examples run here as doctests."""

from __future__ import annotations

import doctest
import inspect
import os
import subprocess
import sys

import pytest
from conftest import ROOT

import signal_core as sc

#: the names issue 14 asks for at the top of the package (the rest of the API may grow around them)
REQUIRED = {
    "read_recording", "Recording", "AnalysisParams", "FilterSpec", "analyze_sweep", "analyze_recording",
    "ChargeResult", "fit_sets", "qv_points", "fit_qv", "analyze_files", "analysis_workbook", "set_workbook",
    "results_csv", "curves_csv", "recipe_json",
}
PUBLIC = sorted(n for n in sc.__all__ if n != "__version__")


def test_all_lists_every_lazily_loaded_name_and_the_required_ones():
    assert set(PUBLIC) == set(sc._PUBLIC)
    assert REQUIRED <= set(PUBLIC)
    assert set(PUBLIC) <= set(dir(sc))


@pytest.mark.parametrize("name", PUBLIC)
def test_the_name_is_the_object_its_module_defines(name):
    obj = getattr(sc, name)
    module = sys.modules[sc._PUBLIC[name]]
    assert getattr(module, name) is obj
    assert obj.__module__.startswith("signal_core.")


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'analyse_sweep'"):
        sc.analyse_sweep  # noqa: B018


def test_import_signal_core_loads_no_scientific_library():
    """The command line and the app import the package first; the science loads when a name is used."""
    code = ("import sys, signal_core; heavy = [m for m in ('numpy', 'scipy', 'pandas', 'xlsxwriter', "
            "'sqlalchemy') if m in sys.modules]; print(','.join(heavy))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True, timeout=60).stdout.strip()
    assert out == ""


@pytest.mark.parametrize("name", PUBLIC)
def test_docstring_is_numpydoc_with_an_example(name):
    doc = inspect.getdoc(getattr(sc, name)) or ""
    assert len(doc.splitlines()) >= 3, f"{name} has no real docstring"
    assert "\nExamples\n--------\n" in doc and ">>> " in doc.split("\nExamples\n--------\n")[1], \
        f"{name} has no Examples section"
    assert any(unit in doc for unit in ("pA", "pC", "mV", "nF", "MOhm", " ms", "Hz", "(s)")), \
        f"{name}'s docstring names no unit"


@pytest.mark.parametrize("name", ["signal_core", *PUBLIC])
def test_examples_run(name):
    obj = sc if name == "signal_core" else getattr(sc, name)
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = finder.find(obj, name, globs={})
    assert tests and tests[0].examples, f"{name}: no examples found"
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed (see the output)"


def _module_files():
    for path in sorted((ROOT / "signal_core").rglob("*.py")):
        if "migrations" not in path.parts:
            yield path, ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def test_every_name_has_one_import_path():
    """A module's ``__all__`` lists only names it defines; only a package's ``__init__`` gathers its own modules'.

    (Issue 14: a newcomer finds a name where it is defined; no module re-exports another's.)
    """
    import ast

    bad = []
    for path, module in _module_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        exported = set()
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
                exported = {e.value for e in node.value.elts}
        facade = path.name == "__init__.py"
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("signal_core"):
                own_subpackage = facade and node.module.startswith(module + ".")
                for alias in node.names:
                    if (alias.asname or alias.name) in exported and not own_subpackage:
                        bad.append(f"{module} re-exports {alias.name} from {node.module}")
    assert not bad, "\n".join(bad)
