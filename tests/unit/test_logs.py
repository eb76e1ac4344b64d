"""CPFs never reach a log line, whichever module logs them."""

from __future__ import annotations

import io
import logging

from gateway.logs import mask_cpfs_in_logs
from tests.unit.rules.rule_helpers import generate_cpf


def test_a_cpf_in_a_log_message_or_its_arguments_is_masked():
    import random

    cpf = generate_cpf(random.Random(7))
    digits = cpf.replace(".", "").replace("-", "")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        mask_cpfs_in_logs()
        mask_cpfs_in_logs()  # twice: one filter, not two
        assert sum(type(f).__name__ == "MaskCpfs" for f in handler.filters) == 1
        logger = logging.getLogger("gateway.test")
        logger.warning("field cpf=%s from %s", cpf, "ana.souza@example.org")
        logger.warning(f"inline {digits} and phone (61) 3333-0000")
    finally:
        root.removeHandler(handler)
    written = stream.getvalue()
    assert f"***.{cpf[4:11]}-**" in written and f"***{digits[3:9]}**" in written
    assert cpf not in written and digits not in written
    assert "ana.souza@example.org" in written and "(61) 3333-0000" in written
