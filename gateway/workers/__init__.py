"""The runners: loops and wake-ups that drive the work, and nothing more.

``processing`` drains accepted mails (through ``Ingest``, given to it as a
seam), ``sweeps`` acts on due tickets (``services.due``), ``sender``
empties the outbox (``outbound.delivery`` opens the connections), and
``scheduler`` (APScheduler) wakes the sweeps and the sender.
``groups.run_in_groups`` is the shape processing and sweeps share: one
transaction per group of items, a failing group redone one item per
transaction.  ``app`` builds and starts them.
"""
