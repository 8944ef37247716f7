"""What importing a package costs: every process imports ``invoice_inbox`` (the CLI, each decide
worker), and a decide worker imports the blob store. Neither loads what it does not use: the
package's public names come when first used, the blob store needs no database, and whoever
imports the models gets every table."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter has imported after running *code*."""
    r = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("INVOICE_INBOX_")},
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    return set(json.loads(r.stdout.splitlines()[-1]))


def _ours(modules: set[str]) -> set[str]:
    return {m for m in modules if m.startswith("invoice_inbox.")}


def test_the_package_loads_no_module_of_its_own() -> None:
    assert _ours(_modules_after("import invoice_inbox")) == set()


def test_the_public_names_come_when_first_used() -> None:
    import invoice_inbox
    from invoice_inbox.connectors import base
    from invoice_inbox.pipeline import decide

    assert invoice_inbox.decide is decide.decide
    assert invoice_inbox.Decision is decide.Decision
    assert invoice_inbox.Connector is base.Connector
    assert set(invoice_inbox.__all__) <= set(dir(invoice_inbox))
    modules = _modules_after("from invoice_inbox import Policy, decide")
    assert "invoice_inbox.pipeline.decide" in modules


def test_the_blob_store_loads_no_database() -> None:
    modules = _modules_after("import invoice_inbox.store.blob_folder")
    assert "sqlalchemy" not in modules
    assert "invoice_inbox.store.models" not in modules


def test_whoever_imports_the_models_gets_every_table() -> None:
    for first in ("models", "models_trust", "models_cluster"):
        code = (
            f"import invoice_inbox.store.{first}\n"
            "from invoice_inbox.store.models import Base\n"
            "print(json.dumps(sorted(Base.metadata.tables)))"
        )
        r = subprocess.run(
            [sys.executable, "-c", f"import json\n{code}"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
        tables = set(json.loads(r.stdout))
        assert {"source", "message", "worker", "event", "oauth_state", "supplier"} <= tables


def test_deciding_loads_pypdf_and_schwifty_only_for_a_pdf_that_needs_them() -> None:
    """Every process that decides (the fetch, each decide worker) imports the decide path; a
    PDF that cannot embed a file nor show a page's text needs neither library (their import is
    a tenth of a second of each process's start)."""
    code = (
        "import sys\n"
        "sys.path.insert(0, 'tests')\n"
        "from builders import Attachment, make_mail\n"
        "from invoice_inbox.pipeline.decide import Policy, decide\n"
        "pdf = b'%PDF-1.4\\n' + bytes(range(256)) * 100 + b'\\n%%EOF\\n'\n"
        "decide(make_mail(attachments=[Attachment('INV-1.pdf', pdf)]), Policy())"
    )
    modules = _modules_after(code)
    assert "invoice_inbox.pipeline.decide" in modules
    assert "pypdf" not in modules and "schwifty" not in modules


_READERS = {
    "invoice_inbox.pipeline.einvoice.vocabulary",  # the XML readers (UBL, CII, KSeF)
    "invoice_inbox.pipeline.einvoice.model",
    "invoice_inbox.pipeline.einvoice.view",  # the invoice as the web page shows it
    "invoice_inbox.pipeline.render",  # a mail body made a PDF
    "invoice_inbox.pipeline.tnef",  # winmail.dat
    "tnefparse",
}


def test_a_decide_worker_loads_the_readers_of_rarer_documents_when_one_comes() -> None:
    """A decide worker starts with the readers every mail needs; the e-invoice XML readers,
    the invoice view, the body renderer and the TNEF reader come with the first mail that
    needs one (a worker's start was a third of a second, a third of it these)."""
    worker = _modules_after("import invoice_inbox.runtime.worker_process")
    assert "invoice_inbox.pipeline.decide" in worker
    assert worker & _READERS == set()
    code = (
        "import sys\n"
        "sys.path[:0] = ['tests', 'tests/pipeline']\n"
        "from builders import Attachment, make_mail\n"
        "from einvoice_samples import cii_invoice\n"
        "from invoice_inbox.pipeline.decide import Policy, decide\n"
        "xml = cii_invoice()\n"
        "d = decide(make_mail(attachments=[Attachment('INV-1.xml', xml)]), Policy())\n"
        "assert d.documents[0].einvoice is not None, d.reason\n"
        "print(d.documents[0].einvoice.format)"
    )
    xml = _modules_after(code)
    assert {
        "invoice_inbox.pipeline.einvoice.vocabulary",
        "invoice_inbox.pipeline.einvoice.model",
    } <= xml
