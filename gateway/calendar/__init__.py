"""Business time: a mailbox's calendar and the deadlines on it.

A low floor, next to ``tickets`` and ``mail``: ``business`` holds the
calendar arithmetic (working hours, weekends, holidays, "3 dias úteis"),
``mailboxes`` builds one calendar per mailbox from its settings.  It drives
nothing; the sweeps that act on deadlines are in ``gateway.workers``.
"""
