"""The Runtime API's reader: http.server's rfile, plus the kernel's receive stamp.

Real TCP over loopback: the stamp is what ends a REPORT Duration, so it must be when the bytes
arrived, not when a thread got round to reading them; and the bytes must come out exactly as a
buffered file would give them, however the sender split them.
"""

from __future__ import annotations

import io
import socket
import struct
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlayer.local.stamped_reader import SO_TIMESTAMP, StampedReader


@pytest.fixture
def pair():
    server = socket.create_server(("127.0.0.1", 0))
    sender = socket.create_connection(server.getsockname())
    receiver, _ = server.accept()
    server.close()
    _until_the_kernel_stamps(sender, receiver)
    yield sender, receiver
    sender.close()
    receiver.close()


def _until_the_kernel_stamps(sender: socket.socket, receiver: socket.socket) -> None:
    """Linux turns receive stamping on for the whole machine a moment after the first socket
    asks (a deferred static key): until then segments arrive unstamped and the reader falls
    back to its own clock. Probe until a segment carries a stamp."""
    receiver.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMP, 1)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        sender.sendall(b"?")
        _, ancillary, _, _ = receiver.recvmsg(1, socket.CMSG_SPACE(16))
        if ancillary:
            return
        time.sleep(0.01)
    raise AssertionError("the kernel never stamped a received segment (SO_TIMESTAMP)")


def test_the_stamp_is_when_the_bytes_arrived_not_when_they_were_read(pair):
    sender, receiver = pair
    reader = StampedReader(receiver)
    sent = time.monotonic()
    sender.sendall(b"POST /2018-06-01/runtime/invocation/r-1/response HTTP/1.1\r\n")
    time.sleep(0.2)  # the server thread busy elsewhere
    read = time.monotonic()
    assert reader.readline(65537).startswith(b"POST ")
    assert sent <= reader.stamp + 0.001 and reader.stamp < sent + 0.1 < read


def test_each_request_gets_the_stamp_of_its_own_first_bytes(pair):
    sender, receiver = pair
    reader = StampedReader(receiver)
    sender.sendall(b"GET /a HTTP/1.1\r\n\r\n")
    time.sleep(0.05)
    assert reader.readline() == b"GET /a HTTP/1.1\r\n" and reader.readline() == b"\r\n"
    first = reader.stamp
    time.sleep(0.15)
    second_sent = time.monotonic()
    sender.sendall(b"POST /b HTTP/1.1\r\n")
    time.sleep(0.05)
    assert reader.readline() == b"POST /b HTTP/1.1\r\n"
    assert reader.stamp >= second_sent - 0.001 > first


def test_without_kernel_stamps_the_stamp_is_when_recv_returned(pair):
    sender, receiver = pair
    reader = StampedReader(receiver)
    reader._ancillary = 0  # as on a platform without SO_TIMESTAMP
    sender.sendall(b"x\n")
    time.sleep(0.1)
    before = time.monotonic()
    assert reader.readline() == b"x\n"
    assert reader.stamp >= before


@pytest.mark.parametrize("age", [-5.0, 3600.0])
def test_a_stamp_from_a_stepped_clock_is_not_used(pair, age):
    reader = StampedReader(pair[1], clock=lambda: 100.0)
    moment = time.time() - age
    raw = struct.pack("@ll", int(moment), int((moment % 1) * 1e6))
    assert reader._arrival([(socket.SOL_SOCKET, SO_TIMESTAMP, raw)]) == 100.0
    fresh = time.time() - 0.25
    raw = struct.pack("@ll", int(fresh), int((fresh % 1) * 1e6))
    assert 99.7 < reader._arrival([(socket.SOL_SOCKET, SO_TIMESTAMP, raw)]) < 99.8


OPS = st.lists(
    st.tuples(st.sampled_from(["readline", "read"]), st.integers(-1, 70)), min_size=1, max_size=30
)


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=400).map(lambda b: b.replace(b"\r", b"\n")),
    cuts=st.lists(st.integers(1, 64), max_size=12),
    ops=OPS,
)
def test_reads_give_what_a_buffered_file_gives_however_the_bytes_are_split(data, cuts, ops):
    """readline(limit) and read(size) as io.BufferedReader, the sender's segments anywhere."""
    server = socket.create_server(("127.0.0.1", 0))
    sender = socket.create_connection(server.getsockname())
    receiver, _ = server.accept()
    server.close()
    try:
        sender.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        at = 0
        for cut in cuts:
            sender.sendall(data[at : at + cut])
            at += cut
        sender.sendall(data[at:])
        sender.shutdown(socket.SHUT_WR)  # the end of the stream: reads past it give b""
        reader, expected = StampedReader(receiver), io.BytesIO(data)
        for op, n in ops:
            if op == "readline":
                assert reader.readline(n) == expected.readline(n)
            else:
                assert reader.read(n) == expected.read(n)
        assert reader.read() == expected.read()
    finally:
        sender.close()
        receiver.close()
