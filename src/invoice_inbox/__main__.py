"""Allow `python -m invoice_inbox`."""

from invoice_inbox.cli import main

main()
