"""Allow `python -m invoice_inbox`."""

from invoice_inbox.cli import main

if __name__ == "__main__":
    main()
