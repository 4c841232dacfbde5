"""The notebooks in notebooks/ run top to bottom on a synthetic world and show what they promise.

Each notebook is executed with nbclient in a kernel running this very interpreter (a kernel spec
registered in a temporary folder, so a ``python3`` kernel installed elsewhere on the machine is
never picked up), in an empty temporary working directory, with ``TMPDIR`` pointing into the
test's own folder. ``01_quickstart`` runs exactly as a user would run it: it generates its own
world and loads it. ``02`` and ``03`` get one store, generated and loaded once here, through
``CHAINGRAPH_STORE`` (the variable a user sets to run them on their own store).

The notebooks are committed without outputs; a fast test checks that.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NAMES = ["01_quickstart.ipynb", "02_trace_a_case.ipynb", "03_rings_and_leads.ipynb"]
CELL_TIMEOUT = 900  # seconds per cell; a busy 2-core machine loads the small world in under a minute
KERNEL = "chaingraph-notebook-test"
DATAFRAME = 'class="dataframe"'
FIGURE = "<iframe srcdoc="

# per notebook: cell tag -> strings the outputs of that cell must contain
EXPECT = {
    "01_quickstart.ipynb": {
        "file-summary": [DATAFRAME, "every row accounted for: True", "bank_statement", "<th>merged</th>",
                         "<th>rejected</th>"],
        "rejects": [DATAFRAME, "<th>reason</th>", "row rejected"],
        "stats": [DATAFRAME, "transfer", "bank_account"],
        "figure": [FIGURE, "Content-Security-Policy"],
        "static-figure": ["image/png"],
    },
    "02_trace_a_case.ipynb": {
        "upstream": [DATAFRAME, "supplied", "registered_at"],
        "flow-accounts": [DATAFRAME, "<th>level</th>", "<th>received</th>", "through"],
        "frontier": [DATAFRAME, "<th>remainder</th>"],
        "flow-figure": [FIGURE],
        "evidence-paths": [DATAFRAME, "path(s) between", " row "],
    },
    "03_rings_and_leads.ipynb": {
        "rings": [DATAFRAME, "linked to cases", "<th>n_cases</th>"],
        "ring-figure": [FIGURE],
        "key-players": [DATAFRAME, "suppliers serve two or more rings"],
        "roles": [DATAFRAME, "first_level"],
        "typologies": [DATAFRAME, "fan_out"],
        "leads": [DATAFRAME, "<th>reasons</th>", "<th>score</th>", "upstream", "downstream"],
        "lead-evidence": [DATAFRAME, "<th>file</th>", "<th>row</th>"],
        "export": [DATAFRAME, "leads.xlsx", "key_hash", "sheets: leads, evidence, requests"],
    },
}
# tagged cells whose table must have at least this many rows
MIN_ROWS = {("03_rings_and_leads.ipynb", "leads"): 20, ("02_trace_a_case.ipynb", "flow-accounts"): 3,
            ("01_quickstart.ipynb", "file-summary"): 10}


def _read(name):
    return nbformat.read(NOTEBOOKS / name, as_version=4)


@pytest.mark.parametrize("name", NAMES)
def test_committed_without_outputs(name):
    nb = _read(name)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, name
    for c in code:
        assert c.outputs == [] and c.execution_count is None, f"{name}: commit the notebook without outputs"
    tags = {t for c in code for t in c.metadata.get("tags", [])}
    assert set(EXPECT[name]) <= tags, f"{name}: tagged cells checked by the tests are missing"


@pytest.fixture(scope="module")
def kernel_path(tmp_path_factory):
    """A kernel spec for this interpreter in a folder of its own; returns the folder for JUPYTER_PATH."""
    from ipykernel.kernelspec import install

    prefix = tmp_path_factory.mktemp("jupyter")
    install(kernel_name=KERNEL, prefix=str(prefix), display_name="chaingraph tests")
    data = prefix / "share" / "jupyter"
    assert (data / "kernels" / KERNEL / "kernel.json").exists()
    return data


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory):
    """The small synthetic world the notebooks generate by default, loaded once for 02 and 03."""
    from chaingraph.ingest import load
    from chaingraph.world import generate

    root = tmp_path_factory.mktemp("notebook-world")
    world = generate(root / "world", seed=0, n_transfers=4000)
    report = load(world.data_dir, root / "store")
    assert report.ok
    return root / "store"


def _outputs_text(cell) -> str:
    parts = []
    for o in cell.get("outputs", []):
        if o.output_type == "stream":
            parts.append(o.text)
        elif o.output_type in ("display_data", "execute_result"):
            parts.extend(o.data.keys())
            for mime in ("text/html", "text/plain"):
                if mime in o.data:
                    parts.append(o.data[mime])
    return "\n".join(parts)


def _run(name, tmp_path, monkeypatch, kernel_path, store=None):
    work, tmp = tmp_path / "cwd", tmp_path / "tmp"
    work.mkdir()
    tmp.mkdir()
    monkeypatch.setenv("JUPYTER_PATH", str(kernel_path))
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.delenv("CHAINGRAPH_DATA", raising=False)
    if store is None:
        monkeypatch.delenv("CHAINGRAPH_STORE", raising=False)
    else:
        monkeypatch.setenv("CHAINGRAPH_STORE", str(store))
    nb = _read(name)
    client = NotebookClient(nb, kernel_name=KERNEL, timeout=CELL_TIMEOUT, allow_errors=False,
                            resources={"metadata": {"path": str(work)}})
    t0 = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the traceback, if any cell fails
    print(f"{name}: executed in {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    assert not any(work.iterdir()), f"{name} wrote into the working directory: {sorted(os.listdir(work))}"
    tagged = {}
    for c in nb.cells:
        for t in c.metadata.get("tags", []):
            tagged[t] = c
    for tag, needles in EXPECT[name].items():
        text = _outputs_text(tagged[tag])
        for s in needles:
            assert s in text, f"{name}, cell {tag!r}: {s!r} not in its output"
        if (name, tag) in MIN_ROWS:
            # rows of the last table shown in the cell
            html = [o.data["text/html"] for o in tagged[tag].outputs if "data" in o and "text/html" in o.data][-1]
            body = html.split("<tbody>", 1)[1]
            assert body.count("<tr") >= MIN_ROWS[(name, tag)], f"{name}, cell {tag!r}: too few rows"
    return nb


@pytest.mark.slow
def test_quickstart(tmp_path, monkeypatch, kernel_path):
    _run("01_quickstart.ipynb", tmp_path, monkeypatch, kernel_path)


@pytest.mark.slow
def test_trace_a_case(tmp_path, monkeypatch, kernel_path, shared_store):
    _run("02_trace_a_case.ipynb", tmp_path, monkeypatch, kernel_path, store=shared_store)


@pytest.mark.slow
def test_rings_and_leads(tmp_path, monkeypatch, kernel_path, shared_store):
    _run("03_rings_and_leads.ipynb", tmp_path, monkeypatch, kernel_path, store=shared_store)
