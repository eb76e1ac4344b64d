"""bench/peer.py's pure helpers and its --help: no timing, no django-helpdesk.

The benchmark's numbers mean something only if each corpus mail reaches both
sides with one Message-ID of its own (else a side may take it for a
duplicate), byte for byte otherwise; and if its medians and ratios are the
usual ones."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path

import pytest

from tests.helpers.corpus import CORPUS, full_mails, require_corpus

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "peer.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_peer", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


peer = _load()


def _ids(raw: bytes) -> list[str]:
    return [str(v).strip() for v in BytesHeaderParser(policy=compat32).parsebytes(raw).get_all("Message-ID") or []]


def test_help_runs_and_names_the_modes():
    done = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for option in ("--quick", "--reps", "--feed", "--with-sisimai", "--keep"):
        assert option in done.stdout
    assert "--child" not in done.stdout, "the children's options are internal"


def test_a_folded_message_id_is_replaced_and_nothing_else_changes():
    raw = (b"From: Ana <ana@example.org>\r\nMessage-ID:\r\n <old@example.org>\r\nSubject: Ol\xe1\r\n"
           b"\r\nbody line\r\nMessage-ID: <in-the-body@example.org>\r\n")
    new = peer.with_message_id(raw, "peer.1@example.org")
    assert new == (b"Message-ID: <peer.1@example.org>\r\nFrom: Ana <ana@example.org>\r\nSubject: Ol\xe1\r\n"
                   b"\r\nbody line\r\nMessage-ID: <in-the-body@example.org>\r\n")


def test_every_message_id_header_goes_whatever_its_case_and_spacing():
    raw = b"message-id : <a@x>\nMESSAGE-ID:<b@x>\nTo: b@example.org\n\nhi\n"
    assert peer.with_message_id(raw, "n@example.org") == b"Message-ID: <n@example.org>\nTo: b@example.org\n\nhi\n"


def test_a_mail_without_one_gets_one_and_the_mbox_from_line_stays_first():
    raw = b"From ana@example.org Mon Jan  1 00:00:00 2024\rSubject: x\r\rbody\r"
    assert peer.with_message_id(raw, "n@example.org") == (
        b"From ana@example.org Mon Jan  1 00:00:00 2024\rMessage-ID: <n@example.org>\rSubject: x\r\rbody\r")
    assert peer.with_message_id(b"", "n@example.org") == b"Message-ID: <n@example.org>\n"


def test_every_corpus_mail_ends_up_with_exactly_the_new_message_id():
    require_corpus()
    mails = full_mails()
    assert len(mails) > 1000
    for index, path in enumerate(mails):
        wanted = f"peer.{index}@example.org"
        assert _ids(peer.with_message_id(path.read_bytes(), wanted)) == [f"<{wanted}>"], path.relative_to(CORPUS)


def test_the_envelope_sender_is_the_return_path_else_the_from_address():
    assert peer.envelope_sender(b"Return-Path: <bounce@example.org>\nFrom: Ana <ana@example.org>\n\nx") \
        == "bounce@example.org"
    assert peer.envelope_sender(b"Return-Path: <>\nFrom: Ana <ana@example.org>\n\nx") == "ana@example.org"
    assert peer.envelope_sender(b"Subject: no sender\n\nx") == ""


def test_median_spread_and_ratio():
    s = peer.summary([30.0, 10.0, 20.0])
    assert (s["median"], s["min"], s["max"], s["spread"]) == (20.0, 10.0, 30.0, 1.0)
    assert peer.summary([1.0, 2.0, 3.0, 4.0])["median"] == 2.5
    assert peer.summary([])["median"] is None
    assert peer.ratio(300.0, 30.0) == pytest.approx(10.0)
    assert peer.ratio(None, 3.0) is None and peer.ratio(3.0, 0.0) is None
    assert peer.verdict(10.0, 10.0) == "PASS" and peer.verdict(9.99, 10.0) == "FAIL" and peer.verdict(None, 7) == "n/a"


def test_the_order_alternates_between_repetitions():
    assert peer.order_of(1) == ("helpdesk", "helpdesk-wal", "gateway")
    assert peer.order_of(2) == ("gateway", "helpdesk-wal", "helpdesk")
    assert peer.order_of(3) == peer.order_of(1)


def test_analysis_pairs_each_repetition_and_judges_the_medians():
    runs = [{"rep": rep, "side": side, "rate_per_s": rate, "cpu_s": 1.0, "accounted": True}
            for rep, rates in ((1, (10.0, 20.0, 150.0)), (2, (12.0, 25.0, 100.0)), (3, (8.0, 15.0, 120.0)))
            for side, rate in zip(("helpdesk", "helpdesk-wal", "gateway"), rates)]
    a = peer.analyse(runs, 3)
    shipped, wal = a["targets"]
    assert shipped["measured"] == pytest.approx(120.0 / 10.0) and shipped["result"] == "PASS"
    assert shipped["per_rep"] == pytest.approx([15.0, 100.0 / 12.0, 15.0])
    assert wal["measured"] == pytest.approx(120.0 / 20.0) and wal["result"] == "FAIL"
    assert a["all_accounted"] and a["complete"]
    runs[-1]["accounted"] = False
    assert not peer.analyse(runs, 3)["all_accounted"]
