"""The server state machine, byte for byte."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from mailstead.proto.smtp import (
    Auth,
    AuthResponse,
    Mail,
    MessageReceived,
    Rcpt,
    Reply,
    ServerConnection,
    ServerOptions,
    StartTLSRequested,
    State,
    parse_replies,
)

OK_MAIL = Reply(250, "Ok", "2.1.0")
OK_RCPT = Reply(250, "Ok", "2.1.5")
QUEUED = Reply(250, "Ok: queued as X", "2.0.0")


class Driver:
    """Feeds bytes and answers events like a permissive policy; records messages."""

    def __init__(self, answer: Callable[[object], Reply] | None = None, **options: object) -> None:
        self.conn = ServerConnection(ServerOptions("mx.test", **options))  # type: ignore[arg-type]
        self.conn.greet()
        self.messages: list[MessageReceived] = []
        self.events: list[object] = []
        self.answer = answer or self.default
        self.conn.data_to_send()

    def default(self, event: object) -> Reply:
        if isinstance(event, Mail):
            return OK_MAIL
        if isinstance(event, Rcpt):
            return OK_RCPT
        if isinstance(event, MessageReceived):
            self.messages.append(event)
            return QUEUED
        raise AssertionError(event)

    def send(self, data: bytes) -> bytes:
        self.conn.receive(data)
        while (event := self.conn.next_event()) is not None:
            self.events.append(event)
            if isinstance(event, StartTLSRequested):
                break
            self.conn.respond(self.answer(event))
        return self.conn.data_to_send()

    def codes(self, data: bytes) -> list[int]:
        return [r.code for r in parse_replies(self.send(data))]


def test_greeting() -> None:
    conn = ServerConnection(ServerOptions("mx.test"))
    conn.greet()
    assert conn.data_to_send() == b"220 mx.test ESMTP Mailstead\r\n"


def test_full_transaction_pipelined_in_one_write() -> None:
    d = Driver()
    out = d.send(
        b"EHLO c.test\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<u@d.test>\r\nRCPT TO:<v@d.test>\r\nDATA\r\n"
    )
    assert out.endswith(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n")
    assert d.send(b"hello\r\n.\r\nQUIT\r\n") == b"250 2.0.0 Ok: queued as X\r\n221 2.0.0 Bye\r\n"
    assert d.conn.closed
    (msg,) = d.messages
    assert msg.message == b"hello\r\n" and msg.via == "DATA"
    assert [str(r.recipient) for r in msg.envelope.recipients] == ["u@d.test", "v@d.test"]


def test_ehlo_extensions() -> None:
    d = Driver(starttls=True, auth_mechanisms=("PLAIN", "LOGIN"), max_message_size=1000)
    (reply,) = parse_replies(d.send(b"EHLO c.test\r\n"))
    assert reply.lines == ("mx.test Hello c.test", "PIPELINING", "SIZE 1000", "8BITMIME", "SMTPUTF8",
                           "ENHANCEDSTATUSCODES", "CHUNKING", "STARTTLS")
    d = Driver(tls_active=True, starttls=True, auth_mechanisms=("PLAIN", "LOGIN"))
    (reply,) = parse_replies(d.send(b"EHLO c.test\r\n"))
    assert "STARTTLS" not in reply.lines and reply.lines[-1] == "AUTH PLAIN LOGIN"


def test_helo_works() -> None:
    d = Driver()
    assert d.send(b"HELO c.test\r\n") == b"250 mx.test\r\n"
    assert d.codes(b"MAIL FROM:<a@b.test>\r\n") == [250]


def test_bad_sequences() -> None:
    d = Driver()
    assert d.send(b"MAIL FROM:<a@b.test>\r\n") == b"503 5.5.1 Error: send HELO/EHLO first\r\n"
    d.send(b"EHLO c\r\n")
    assert d.send(b"RCPT TO:<u@d.test>\r\n") == b"503 5.5.1 Error: need MAIL command\r\n"
    assert d.send(b"DATA\r\n") == b"503 5.5.1 Error: need MAIL command\r\n"
    d.send(b"MAIL FROM:<a@b.test>\r\n")
    assert d.send(b"MAIL FROM:<a@b.test>\r\n") == b"503 5.5.1 Error: nested MAIL command\r\n"
    assert d.send(b"DATA\r\n") == b"554 5.5.1 Error: no valid recipients\r\n"
    assert d.codes(b"RSET\r\nMAIL FROM:<a@b.test>\r\n") == [250, 250]


def test_size_parameter_over_limit() -> None:
    d = Driver(max_message_size=1000)
    d.send(b"EHLO c\r\n")
    assert d.send(b"MAIL FROM:<a@b.test> SIZE=1001\r\n") == (
        b"552 5.3.4 Message size exceeds fixed maximum message size\r\n")
    assert d.codes(b"MAIL FROM:<a@b.test> SIZE=1000\r\n") == [250]


def test_data_over_limit_reads_to_the_end_then_552() -> None:
    d = Driver(max_message_size=100)
    d.send(b"EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<u@d.test>\r\nDATA\r\n")
    assert d.send(b"x" * 80 + b"\r\n") == b""
    assert d.send(b"y" * 80 + b"\r\n") == b""
    assert d.send(b".\r\nNOOP\r\n") == b"552 5.3.4 Message size exceeds fixed maximum message size\r\n250 2.0.0 Ok\r\n"
    assert d.messages == [] and d.conn.envelope is None


def test_bare_lf_in_data_is_refused_and_closes() -> None:
    d = Driver()
    d.send(b"EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<u@d.test>\r\nDATA\r\n")
    out = d.send(b"x\n.\nMAIL FROM:<evil@b.test>\r\nRCPT TO:<u@d.test>\r\nDATA\r\nsmuggled\r\n.\r\n")
    assert out.startswith(b"550 5.6.11 ")
    assert d.conn.closed and d.messages == []
    assert d.send(b"QUIT\r\n") == b""


def test_bare_cr_in_data_is_refused() -> None:
    d = Driver()
    d.send(b"EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<u@d.test>\r\nDATA\r\n")
    assert d.send(b"x\r.\r\r\n.\r\n").startswith(b"550 5.6.11 ")


def test_bdat() -> None:
    d = Driver()
    d.send(b"EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<u@d.test>\r\n")
    out = d.send(b"BDAT 5\r\nab\r\ncBDAT 0\r\nBDAT 3 LAST\r\nd\r\nNOOP\r\n")
    assert out == (b"250 2.0.0 Ok: 5 octets received\r\n250 2.0.0 Ok: 5 octets received\r\n"
                   b"250 2.0.0 Ok: queued as X\r\n250 2.0.0 Ok\r\n")
    assert d.messages[0].message == b"ab\r\ncd\r\n" and d.messages[0].via == "BDAT"


def test_bdat_zero_last_and_chunk_split_across_reads() -> None:
    d = Driver()
    d.send(b"EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<u@d.test>\r\n")
    assert d.send(b"BDAT 10\r\n0123") == b""
    assert d.send(b"45678") == b""
    assert d.send(b"9BDAT 0 LAST\r\n") == b"250 2.0.0 Ok: 10 octets received\r\n250 2.0.0 Ok: queued as X\r\n"
    assert d.messages[0].message == b"0123456789"


def test_bdat_without_transaction_is_consumed_and_refused() -> None:
    d = Driver()
    d.send(b"EHLO c\r\n")
    assert d.codes(b"BDAT 12 LAST\r\nRSET\r\nQUIT\r\nNOOP\r\n") == [503, 250]
    assert not d.conn.closed


def test_bdat_oversize() -> None:
    d = Driver(max_message_size=10)
    d.send(b"EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<u@d.test>\r\n")
    assert d.codes(b"BDAT 8\r\n12345678BDAT 8 LAST\r\n12345678NOOP\r\n") == [250, 552, 250]
    assert d.messages == []


def test_data_after_bdat_refused() -> None:
    d = Driver()
    d.send(b"EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<u@d.test>\r\n")
    assert d.codes(b"BDAT 1\r\nxDATA\r\n") == [250, 503]


def test_bad_bdat_closes() -> None:
    d = Driver()
    d.send(b"EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<u@d.test>\r\n")
    assert d.codes(b"BDAT xyz\r\nRSET\r\n") == [501, 421]
    assert d.conn.closed


def test_too_many_recipients() -> None:
    d = Driver(max_recipients=2)
    d.send(b"EHLO c\r\nMAIL FROM:<a@b.test>\r\n")
    assert d.codes(b"RCPT TO:<a@d.test>\r\nRCPT TO:<b@d.test>\r\nRCPT TO:<c@d.test>\r\n") == [250, 250, 452]
    assert d.codes(b"RCPT TO:<x@d.test>\r\n" * 30) == [452] * 30  # not errors: no 421
    assert not d.conn.closed


def test_line_too_long_then_recovers() -> None:
    d = Driver(max_line_length=100)
    d.send(b"EHLO c\r\n")
    assert d.send(b"NOOP " + b"x" * 200) == b"500 5.5.2 Error: line too long\r\n"
    assert d.send(b"x" * 500) == b""
    assert d.send(b"\r\nNOOP\r\n") == b"250 2.0.0 Ok\r\n"
    assert d.send(b"NOOP " + b"y" * 150 + b"\r\nNOOP\r\n") == b"500 5.5.2 Error: line too long\r\n250 2.0.0 Ok\r\n"


def test_too_many_errors_closes() -> None:
    d = Driver(max_errors=3)
    assert d.codes(b"FOO\r\nBAR\r\nBAZ\r\nNOOP\r\n") == [500, 500, 500, 421]
    assert d.conn.closed


def test_policy_rejections_count_as_errors_and_are_not_recipients() -> None:
    def answer(event: object) -> Reply:
        if isinstance(event, Rcpt) and event.recipient.local == "nobody":
            return Reply(550, "no such user", "5.1.1")
        return Driver.default(d, event)

    d = Driver()
    d.answer = answer
    d.send(b"EHLO c\r\nMAIL FROM:<a@b.test>\r\n")
    assert d.codes(b"RCPT TO:<nobody@d.test>\r\nRCPT TO:<u@d.test>\r\n") == [550, 250]
    assert d.conn.errors == 1
    assert d.conn.envelope is not None and len(d.conn.envelope.recipients) == 1


def test_starttls_discards_pipelined_plaintext_and_resets() -> None:
    d = Driver(starttls=True)
    d.send(b"EHLO c\r\nMAIL FROM:<a@b.test>\r\n")
    out = d.send(b"STARTTLS\r\nRSET\r\nMAIL FROM:<evil@b.test>\r\n")
    assert out == b"220 2.0.0 Ready to start TLS\r\n"
    assert isinstance(d.events[-1], StartTLSRequested) and d.events[-1].discarded > 0
    assert d.conn.state is State.TLS_PENDING
    d.conn.receive(b"NOOP\r\n")  # plaintext that arrives before the handshake
    d.conn.tls_started()
    assert d.conn.helo_name is None and d.conn.envelope is None and d.conn.tls_active
    assert d.send(b"MAIL FROM:<a@b.test>\r\n") == b"503 5.5.1 Error: send HELO/EHLO first\r\n"
    assert d.codes(b"EHLO c\r\nSTARTTLS\r\n") == [250, 554]


def test_auth_exchange() -> None:
    d = Driver(auth_mechanisms=("PLAIN", "LOGIN"), tls_active=True)
    d.send(b"EHLO c\r\n")
    d.conn.receive(b"AUTH LOGIN\r\n")
    event = d.conn.next_event()
    assert event == Auth("LOGIN", None)
    d.conn.auth_challenge("VXNlcm5hbWU6")
    assert d.conn.data_to_send() == b"334 VXNlcm5hbWU6\r\n"
    d.conn.receive(b"dXNlcg==\r\n")
    assert d.conn.next_event() == AuthResponse("dXNlcg==")
    d.conn.respond(Reply(235, "Authentication successful", "2.7.0"))
    assert d.conn.data_to_send() == b"235 2.7.0 Authentication successful\r\n"
    assert d.conn.state is State.COMMAND


def test_auth_refused_without_tls() -> None:
    d = Driver(auth_mechanisms=("PLAIN",))
    d.send(b"EHLO c\r\n")
    assert d.send(b"AUTH PLAIN AGEAYg==\r\n").startswith(b"538 5.7.11 ")
    d = Driver(auth_mechanisms=("PLAIN",), auth_plaintext_ok=True)
    d.send(b"EHLO c\r\n")
    assert d.codes(b"AUTH CRAM-MD5\r\n") == [504]
    d.conn.receive(b"AUTH PLAIN\r\n")
    assert isinstance(d.conn.next_event(), Auth)
    d.conn.auth_challenge("")
    d.conn.receive(b"*\r\n")
    assert d.conn.next_event() is None
    assert d.conn.data_to_send() == b"334 \r\n501 5.7.0 Authentication cancelled\r\n"


def test_auth_required() -> None:
    d = Driver(auth_required=True)
    d.send(b"EHLO c\r\n")
    assert d.codes(b"MAIL FROM:<a@b.test>\r\n") == [530]


def test_unsupported_parameters() -> None:
    d = Driver()
    d.send(b"EHLO c\r\n")
    assert d.codes(b"MAIL FROM:<a@b.test> RET=FULL\r\n") == [555]
    assert d.codes(b"MAIL FROM:<a@b.test> BODY=BINARYMIME\r\n") == [555]
    assert d.codes(b"MAIL FROM:<a@b.test> XYZ=1\r\n") == [555]
    d = Driver(dsn=True)
    d.send(b"EHLO c\r\n")
    assert d.codes(b"MAIL FROM:<a@b.test> RET=FULL ENVID=abc\r\nRCPT TO:<u@d.test> NOTIFY=NEVER\r\n") == [250, 250]


def test_smtputf8_transaction() -> None:
    d = Driver()
    d.send(b"EHLO c\r\n")
    assert d.codes("MAIL FROM:<jörg@b.test>\r\n".encode()) == [553]
    assert d.codes("MAIL FROM:<jörg@b.test> SMTPUTF8\r\nRCPT TO:<zoë@d.test>\r\n".encode()) == [250, 250]


def test_vrfy_expn_help() -> None:
    d = Driver()
    assert d.codes(b"VRFY bob\r\nEXPN list\r\nHELP\r\n") == [252, 502, 214]


def test_waiting_event_holds_pipelined_input() -> None:
    conn = ServerConnection(ServerOptions("mx.test"))
    conn.receive(b"EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<u@d.test>\r\n")
    assert isinstance(conn.next_event(), Mail)
    assert conn.next_event() is None  # waits for the MAIL answer
    assert conn.waiting
    conn.respond(OK_MAIL)
    assert isinstance(conn.next_event(), Rcpt)


commands = st.sampled_from(
    [b"EHLO c", b"HELO c", b"MAIL FROM:<a@b.test>", b"RCPT TO:<u@d.test>", b"DATA", b"BDAT 3",
     b"BDAT 0 LAST", b"RSET", b"NOOP", b"STARTTLS", b"AUTH PLAIN", b"QUIT", b".", b"", b"\x00\xff"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(commands, st.binary(max_size=40)), max_size=30),
       st.integers(min_value=1, max_value=64))
def test_fuzz_never_raises(parts: list[bytes], chunk: int) -> None:
    d = Driver(starttls=True, auth_mechanisms=("PLAIN",), auth_plaintext_ok=True,
               max_line_length=64, max_message_size=50, max_recipients=3)
    d.answer = lambda e: Reply(334 if isinstance(e, Auth) else 250, "x") if not isinstance(
        e, (Auth, AuthResponse)) else Reply(535, "no", "5.7.8")
    wire = b"\r\n".join(parts)
    for i in range(0, len(wire), chunk):
        out = d.send(wire[i : i + chunk])
        for line in out.split(b"\r\n")[:-1]:
            assert line[:3].isdigit(), out
        if d.events and isinstance(d.events[-1], StartTLSRequested) and d.conn.state is State.TLS_PENDING:
            d.conn.tls_started()


def test_overlong_auth_response_ends_the_exchange() -> None:
    d = Driver(auth_mechanisms=("PLAIN",), auth_plaintext_ok=True, max_line_length=100)
    d.send(b"EHLO c\r\n")
    d.conn.receive(b"AUTH PLAIN\r\n")
    assert isinstance(d.conn.next_event(), Auth)
    d.conn.auth_challenge("")
    d.conn.data_to_send()
    assert d.send(b"A" * 300 + b"\r\nNOOP\r\n") == b"500 5.5.2 Error: line too long\r\n250 2.0.0 Ok\r\n"
    assert d.conn.state is State.COMMAND


def test_progress_counters_for_total_time_limits() -> None:
    """The session's total-time limits read these: a partial line, a transfer running."""
    d = Driver(max_line_length=32)
    conn = d.conn
    assert not conn.in_partial_line and not conn.in_transfer and conn.lines_read == 0
    d.send(b"EHLO c\r\nNO")
    assert conn.in_partial_line and conn.lines_read == 1
    d.send(b"OP\r\n")
    assert not conn.in_partial_line and conn.lines_read == 2
    d.send(b"X" * 80)  # overlong: the buffer is dropped, the line is still running
    assert conn.in_partial_line and conn.lines_read == 2
    d.send(b"X\r\n")
    assert not conn.in_partial_line and conn.lines_read == 3
    d.send(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<u@d.test>\r\nDATA\r\nSubject: x\r\n")
    assert conn.in_transfer and conn.transfers_started == 1 and not conn.in_partial_line
    d.send(b"\r\nbody\r\n.\r\n")
    assert not conn.in_transfer and len(d.messages) == 1
    d.send(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<u@d.test>\r\nBDAT 1\r\nx")
    assert conn.in_transfer and conn.transfers_started == 2  # between chunks, too
    d.send(b"BDAT 1\r\ny")
    assert conn.in_transfer and conn.transfers_started == 2  # the same series
    d.send(b"BDAT 0 LAST\r\n")
    assert not conn.in_transfer and d.messages[-1].message == b"xy"


MEMORY_FULL = Reply(452, "Error: insufficient system storage, try again later", "4.3.1")


def test_message_bytes_counts_what_the_core_holds() -> None:
    d = Driver()
    d.send(b"EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<u@d.test>\r\n")
    assert d.conn.message_bytes == 0
    d.send(b"BDAT 5\r\n12345")
    assert d.conn.message_bytes == 5
    d.send(b"BDAT 3 LAST\r\n678")
    assert d.conn.message_bytes == 0 and d.messages[0].message == b"12345678"
    d.send(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<u@d.test>\r\nDATA\r\n")
    d.send(b"x" * 100 + b"\r\n")
    assert 100 <= d.conn.message_bytes <= 102
    d.send(b".\r\n")
    assert d.conn.message_bytes == 0


def test_refused_data_is_read_to_its_end_then_452_and_the_session_goes_on() -> None:
    d = Driver()
    d.send(b"EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<u@d.test>\r\nDATA\r\n")
    assert d.send(b"x" * 100 + b"\r\n") == b""
    d.conn.refuse_message(MEMORY_FULL)
    assert d.conn.message_bytes == 0
    assert d.send(b"y" * 100 + b"\r\n") == b""
    assert d.conn.message_bytes == 0  # the rest is not kept either
    assert d.send(b".\r\nNOOP\r\n") == (
        b"452 4.3.1 Error: insufficient system storage, try again later\r\n250 2.0.0 Ok\r\n")
    assert d.messages == [] and d.conn.envelope is None
    # The next message is not affected.
    assert d.codes(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<u@d.test>\r\nDATA\r\nok\r\n.\r\n") == [
        250, 250, 354, 250]
    assert d.messages[0].message == b"ok\r\n"


def test_refused_bdat_ends_its_transaction_at_the_chunk_in_hand() -> None:
    d = Driver()
    d.send(b"EHLO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<u@d.test>\r\n")
    assert d.codes(b"BDAT 4\r\n1234") == [250]
    assert d.send(b"BDAT 8\r\n5678") == b""
    d.conn.refuse_message(MEMORY_FULL)
    assert d.conn.message_bytes == 0
    assert d.codes(b"abcdBDAT 2 LAST\r\nxyNOOP\r\n") == [452, 503, 250]
    assert d.messages == [] and d.conn.envelope is None
    # Refused between two chunks: the next chunk is read and answered 452.
    d.send(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<u@d.test>\r\nBDAT 3\r\nabc")
    d.conn.refuse_message(MEMORY_FULL)
    assert d.codes(b"BDAT 3 LAST\r\ndef") == [452]
    assert d.messages == []
    # A refusal made for a transaction that then ended does not reach the next one.
    d.send(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<u@d.test>\r\nBDAT 3\r\nabc")
    d.conn.refuse_message(MEMORY_FULL)
    assert d.codes(b"RSET\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<u@d.test>\r\nBDAT 2 LAST\r\nok") == [
        250, 250, 250, 250]
    assert d.messages[0].message == b"ok"


def test_refusing_between_messages_does_nothing() -> None:
    d = Driver()
    d.send(b"EHLO c\r\n")
    d.conn.refuse_message(MEMORY_FULL)
    assert d.codes(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<u@d.test>\r\nDATA\r\nok\r\n.\r\n") == [
        250, 250, 354, 250]
