"""Trust in senders, as pure functions given a DNS lookup: who really sent a mail (DKIM, SPF,
DMARC, a trusted provider's Authentication-Results), whether its From domain looks like a known
one, and the IBANs a document asks payment to."""
