"""One module per mail protocol, all meeting the contract in ``base``."""
