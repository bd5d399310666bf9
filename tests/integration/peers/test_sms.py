"""SMS over real SMPP 3.4: SmppProvider (smpp34) -> the local SMSC, receipts back as deliver_sm."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest

from pupilpost.peers import smpp
from pupilpost.peers.run import PeersHandle
from pupilpost.peers.smsc import SmscConfig, SmscPeer
from services.dispatch.providers.base import TransientFailure
from services.dispatch.providers.sms import SmppProvider
from tests.conftest import eventually

NUMBER = "+447700900123"
FAILING = "+447700900991"  # matches the default fail pattern +44770090099? (err 001)


class Receipts:
    """Collects receipt callbacks."""

    def __init__(self) -> None:
        self.got: dict[str, tuple[str, str | None]] = {}

    async def __call__(self, message_id: str, state: str, error_code: str | None) -> None:
        self.got[message_id] = (state, error_code)


def esme(port: int, receipts: Receipts | None = None, **kw: object) -> SmppProvider:
    options: dict[str, object] = {"source_addr": "Oakfield", "rate_per_second": 200.0, **kw}
    return SmppProvider("127.0.0.1", port, "pupilpost", options.pop("password", "secret"),  # type: ignore[arg-type]
                        on_receipt=receipts, **options)  # type: ignore[arg-type]


@pytest.fixture
async def receipts() -> Receipts:
    return Receipts()


@pytest.fixture
async def bound(peers: PeersHandle, receipts: Receipts) -> AsyncIterator[SmppProvider]:
    provider = esme(peers.smsc.port, receipts)
    await provider.start()
    assert provider.is_bound
    yield provider
    await provider.stop()


async def test_submit_returns_the_smsc_message_id_and_the_receipt_says_delivered(
        bound: SmppProvider, peers: PeersHandle, receipts: Receipts) -> None:
    message_id = await bound.submit(NUMBER, "Reminder: farm trip on Friday.", reference="d-1")

    stored = peers.smsc.messages[message_id]
    assert (stored.destination, stored.source, stored.text) == (NUMBER, "Oakfield", "Reminder: farm trip on Friday.")
    await eventually(lambda: _has(receipts, message_id), timeout=5)
    assert receipts.got[message_id] == ("delivered", "000")


async def test_a_failing_number_gets_a_failed_receipt_with_its_error_code(
        bound: SmppProvider, receipts: Receipts, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    message_id = await bound.submit(FAILING, "Hello", reference="d-2")
    await eventually(lambda: _has(receipts, message_id), timeout=5)
    assert receipts.got[message_id] == ("failed", "001")
    assert "900991" not in caplog.text


async def test_unicode_and_long_texts_arrive_intact(bound: SmppProvider, peers: PeersHandle) -> None:
    short = await bound.submit(NUMBER, "Dinner money: £2.30 — thank you", reference="d-3")
    long_text = "A" * 200 + " — " + "B" * 200
    long = await bound.submit(NUMBER, long_text, reference="d-4")
    assert peers.smsc.messages[short].text == "Dinner money: £2.30 — thank you"
    assert peers.smsc.messages[short].data_coding == 8
    assert peers.smsc.messages[long].text == long_text


async def test_a_number_that_is_not_e164_is_refused_before_sending(bound: SmppProvider) -> None:
    with pytest.raises(ValueError) as err:
        await bound.submit("07700900123", "Hello", reference="d-5")
    assert "07700900123" not in str(err.value)


async def test_throttling_beyond_the_smsc_cap_is_a_transient_failure() -> None:
    smsc = SmscPeer(SmscConfig(port=0, http_port=0, max_submits_per_second=3))
    await smsc.start()
    provider = esme(smsc.port, throttle_retries=0)
    await provider.start()
    try:
        results = await asyncio.gather(*(provider.submit(NUMBER, "x", f"d-{i}") for i in range(8)),
                                       return_exceptions=True)
        throttled = [r for r in results if isinstance(r, TransientFailure)]
        assert 1 <= len(throttled) <= 5 and all(r.code == "0x58" for r in throttled)
        assert len(results) - len(throttled) == len(smsc.messages)
    finally:
        await provider.stop()
        await smsc.stop()


async def test_throttled_submits_are_retried_with_backoff_when_allowed() -> None:
    smsc = SmscPeer(SmscConfig(port=0, http_port=0, max_submits_per_second=5))
    await smsc.start()
    provider = esme(smsc.port, throttle_retries=4, throttle_backoff=0.2)
    await provider.start()
    try:
        ids = await asyncio.gather(*(provider.submit(NUMBER, "x", f"d-{i}") for i in range(8)))
        assert len(set(ids)) == 8 == len(smsc.messages)
    finally:
        await provider.stop()
        await smsc.stop()


async def test_the_rate_limit_spaces_submits(peers: PeersHandle) -> None:
    provider = esme(peers.smsc.port, rate_per_second=20.0)
    await provider.start()
    done: list[float] = []

    async def send(i: int) -> None:
        await provider.submit(NUMBER, "x", f"d-{i}")
        done.append(time.monotonic())

    try:
        start = time.monotonic()
        await asyncio.gather(*(send(i) for i in range(40)))
    finally:
        await provider.stop()
    # a burst of 20, then 20 a second: the last of 40 cannot finish before ~1 s
    assert max(done) - start >= 0.8
    assert sum(1 for t in done if t - start < 0.25) <= 20 + 5 + 3


async def test_the_provider_rebinds_after_the_session_drops(peers: PeersHandle) -> None:
    provider = esme(peers.smsc.port)
    await provider.start()
    try:
        await provider.submit(NUMBER, "first", "d-1")
        for session in list(peers.smsc.sessions):
            session.close()
        await eventually(lambda: _true(provider.binds >= 2 and provider.is_bound), timeout=5)
        assert await provider.submit(NUMBER, "second", "d-2")
    finally:
        await provider.stop()


async def test_receipts_that_find_no_bound_receiver_are_held_for_the_next_bind(receipts: Receipts) -> None:
    smsc = SmscPeer(SmscConfig(port=0, http_port=0, receipt_delay=0.3))
    await smsc.start()
    try:
        first = esme(smsc.port)
        await first.start()
        message_id = await first.submit(NUMBER, "x", "d-1")
        await first.stop()  # unbound before the receipt is due
        await asyncio.sleep(0.4)
        second = esme(smsc.port, receipts)
        await second.start()
        await eventually(lambda: _has(receipts, message_id), timeout=5)
        assert receipts.got[message_id] == ("delivered", "000")
        await second.stop()
    finally:
        await smsc.stop()


async def test_the_client_answers_the_smscs_enquire_link() -> None:
    smsc = SmscPeer(SmscConfig(port=0, http_port=0, enquire_link_interval=0.1))
    await smsc.start()
    provider = esme(smsc.port)
    await provider.start()
    try:
        await eventually(lambda: _true(smsc.link_checks_answered >= 2), timeout=5)
    finally:
        await provider.stop()
        await smsc.stop()


async def test_wrong_credentials_never_bind() -> None:
    smsc = SmscPeer(SmscConfig(port=0, http_port=0))
    await smsc.start()
    provider = esme(smsc.port, password="wrong", connect_timeout=0.3, submit_timeout=0.5)
    await provider.start()
    try:
        assert not provider.is_bound
        with pytest.raises(TransientFailure, match="not bound"):
            await provider.submit(NUMBER, "x", "d-1")
        assert not smsc.messages
    finally:
        await provider.stop()
        await smsc.stop()


async def test_the_smsc_speaks_smpp_to_a_raw_client(peers: PeersHandle) -> None:
    """The peer's own protocol behaviour, byte for byte: bind checks, bind state, generic_nack."""
    reader, writer = await asyncio.open_connection("127.0.0.1", peers.smsc.port)

    async def call(command_id: int, body: bytes = b"", seq: int = 1) -> smpp.Pdu:
        writer.write(smpp.Pdu(command_id, 0, seq, body).encode())
        return await asyncio.wait_for(smpp.read_pdu(reader), 2)

    submit = smpp.encode_short_message(smpp.ShortMessage("Oakfield", "447700900123", b"hi", dest_addr_ton=1))
    resp = await call(smpp.SUBMIT_SM, submit, 1)
    assert (resp.command_id, resp.status, resp.sequence) == (smpp.SUBMIT_SM | smpp.RESP, smpp.ESME_RINVBNDSTS, 1)
    resp = await call(0x00000103, b"", 2)  # data_sm: not supported here
    assert (resp.command_id, resp.status, resp.sequence) == (smpp.GENERIC_NACK, smpp.ESME_RINVCMDID, 2)
    resp = await call(smpp.BIND_TRANSCEIVER, smpp.encode_bind(smpp.Bind("pupilpost", "secret", "", 0x34)), 3)
    assert (resp.command_id, resp.status) == (smpp.BIND_TRANSCEIVER | smpp.RESP, smpp.ESME_ROK)
    assert resp.body.startswith(peers.smsc.config.system_id.encode() + b"\x00")
    resp = await call(smpp.SUBMIT_SM, submit, 4)
    assert resp.status == smpp.ESME_ROK and smpp.decode_message_id(resp.body) in peers.smsc.messages
    resp = await call(smpp.ENQUIRE_LINK, b"", 5)
    assert (resp.command_id, resp.status) == (smpp.ENQUIRE_LINK | smpp.RESP, smpp.ESME_ROK)
    resp = await call(smpp.UNBIND, b"", 6)
    assert resp.command_id == smpp.UNBIND | smpp.RESP
    writer.close()

    reader, writer = await asyncio.open_connection("127.0.0.1", peers.smsc.port)
    resp = await call(smpp.BIND_TRANSCEIVER, smpp.encode_bind(smpp.Bind("pupilpost", "wrong", "", 0x34)), 1)
    assert resp.status == smpp.ESME_RINVPASWD
    writer.close()


async def _has(receipts: Receipts, message_id: str) -> bool:
    return message_id in receipts.got


async def _true(value: bool) -> bool:
    return value


async def test_a_burst_of_receipts_keeps_the_bind(receipts: Receipts) -> None:
    """2,000 receipts at once (a snow day) are all handed over on the first bind, none dropped."""
    smsc = SmscPeer(SmscConfig(port=0, http_port=0, receipt_delay=0.01))
    await smsc.start()
    provider = esme(smsc.port, receipts, rate_per_second=5000.0)
    try:
        await provider.start()
        ids = await asyncio.gather(*(provider.submit(f"+4477009{i % 1000:05d}"[:13], "snow day", f"d-{i}")
                                     for i in range(2000)))
        await eventually(lambda: _true(len(receipts.got) == 2000), timeout=60)
        assert set(receipts.got) == set(ids) and provider.binds == 1
    finally:
        await provider.stop()
        await smsc.stop()
