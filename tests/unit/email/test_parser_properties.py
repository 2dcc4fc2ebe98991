"""Property-based tests (hypothesis): whatever bytes come in, mutated real mail, random MIME trees, random and
damaged Outlook .msg files, the parser returns a bounded, storable ReportedMessage or raises ParseError.
Nothing else escapes."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgfile import MsgAttachment, MsgMessage, build_msg

from bot.domain import ReportedMessage
from bot.email import ParseError, read_report
from bot.email.analysis import analysis

ROOT = Path(__file__).resolve().parents[3]
CORPUS = [p.read_bytes() for p in sorted((ROOT / "tests" / "fixtures" / "emails").glob("*.eml"))]
CORPUS += [p.read_bytes() for p in sorted((ROOT / "bot" / "sandbox" / "samples").glob("*.eml"))]
VALID_MSG = build_msg(
    MsgMessage(
        subject="FW: x",
        body="see https://a.example/",
        sender_address="a@contoso.example",
        transport_headers="From: a@contoso.example\r\nSubject: FW: x\r\nAuthentication-Results: spf=pass\r\n",
        attachments=[
            MsgAttachment("inner.msg", embedded=MsgMessage(subject="in", body="https://b.example/")),
            MsgAttachment("f.bin", b"\x00\x01" * 50),
        ],
    )
)
SNIPPETS = [
    b"\r\n",
    b"\r\n\r\n",
    b"--",
    b"boundary=",
    b'Content-Type: multipart/mixed; boundary="b"\r\n',
    b"Content-Type: message/rfc822\r\n\r\n",
    b"Content-Type: application/pkcs7-mime; smime-type=signed-data\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"=?utf-8?b?",
    b"=?x-unknown?q?=FF?=",
    b"Authentication-Results: ",
    b"; dkim=",
    b"((((",
    b'"',
    b"<a href='https://x.example/",
    b"&#x68;ttps://",
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
    b"\x00",
    b"\xff\xfe",
    b"filename*0*=utf-8''%E2%82",
]
SETTINGS = settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def check(raw: bytes) -> None:
    try:
        message, original = read_report(raw)
    except ParseError as error:
        assert str(error) and error.reason in {"empty", "too_large", "not_email", "msg_unreadable"}
        return
    assert isinstance(message, ReportedMessage) and isinstance(original, bytes) and original
    assert message.size == len(raw)
    depth = 0
    node: ReportedMessage | None = message
    while node is not None:
        assert len(node.urls) <= 500 and len(node.flags) <= 40 and len(node.attachments) <= 200
        assert len(node.authentication) <= 60 and len(node.subject) <= 2000
        node, depth = node.inner, depth + 1
    assert depth <= 4
    encoded = json.dumps(analysis(message), ensure_ascii=False).encode("utf-8")
    assert b"\x00" not in encoded and b"\\u0000" not in encoded
    json.dumps(message.to_dict(), ensure_ascii=False).encode("utf-8")


# --- mutated real mail --------------------------------------------------------------------------------------

mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.sampled_from(SNIPPETS)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 400)),
    st.tuples(st.just("repeat"), st.integers(0, 10**6), st.integers(1, 300), st.integers(1, 30)),
    st.tuples(st.just("cut"), st.integers(0, 10**6)),
)


def mutate(data: bytes, operations) -> bytes:
    buffer = bytearray(data)
    for operation in operations:
        kind, position = operation[0], operation[1] % (len(buffer) + 1)
        if kind == "flip" and buffer:
            buffer[min(position, len(buffer) - 1)] = operation[2]
        elif kind == "insert":
            buffer[position:position] = operation[2]
        elif kind == "delete":
            del buffer[position : position + operation[2]]
        elif kind == "repeat":
            chunk = bytes(buffer[position : position + operation[2]])
            buffer[position:position] = chunk * operation[3]
        elif kind == "cut":
            del buffer[position:]
    return bytes(buffer)


@SETTINGS
@given(st.sampled_from(CORPUS), st.lists(mutation, min_size=1, max_size=12))
def test_mutated_mail(base, operations):
    check(mutate(base, operations))


@SETTINGS
@given(st.binary(max_size=4000))
def test_random_bytes_after_a_header(noise):
    check(b"From: a@example.com\r\n" + noise)
    check(noise)


# --- random MIME trees --------------------------------------------------------------------------------------

header_value = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=80
)
content_type = st.sampled_from(
    [
        "text/plain",
        "text/html",
        "text/plain; charset=utf-7",
        "text/plain; charset=x-nonsense",
        "application/octet-stream",
        "application/pkcs7-mime; smime-type=signed-data",
        "application/pkcs7-mime; smime-type=enveloped-data",
        "application/vnd.ms-outlook",
        "message/rfc822",
        "message/delivery-status",
        "multipart/signed",
        "image/png",
    ]
)
encoding = st.sampled_from(["", "base64", "quoted-printable", "7bit", "8bit", "x-uuencode", "bogus"])
body = st.one_of(
    st.binary(max_size=600),
    st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from(
        [b"<a href=https://h.example/x>x</a>", b"https://t.example/y", b"=E2=82=AC", b"SGVsbG8="]
    ),
)


@st.composite
def leaf(draw) -> bytes:
    head = f"Content-Type: {draw(content_type)}"
    name = draw(st.one_of(st.none(), header_value))
    if name is not None:
        head += f'; name="{name}"'
    cte = draw(encoding)
    lines = [head]
    if cte:
        lines.append(f"Content-Transfer-Encoding: {cte}")
    if draw(st.booleans()):
        lines.append(f'Content-Disposition: attachment; filename="{draw(header_value)}"')
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogatepass") + draw(body)


def multipart(children) -> st.SearchStrategy[bytes]:
    @st.composite
    def build(draw) -> bytes:
        boundary = draw(st.sampled_from(["b1", "b2", "x", "=_b", ""]))
        parts = draw(st.lists(children, max_size=4))
        subtype = draw(st.sampled_from(["mixed", "alternative", "related", "signed", "encrypted"]))
        out = f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\npreamble\r\n'.encode()
        for part in parts:
            out += f"--{boundary}\r\n".encode() + part + b"\r\n"
        if draw(st.booleans()):
            out += f"--{boundary}--\r\n".encode()
        return out

    return build()


def message_wrapper(children) -> st.SearchStrategy[bytes]:
    @st.composite
    def build(draw) -> bytes:
        return b"Content-Type: message/rfc822\r\n\r\n" + draw(top_headers) + draw(children)

    return build()


top_headers = st.builds(
    lambda subject, sender, auth, extra: (
        f"From: {sender}\r\nSubject: {subject}\r\nMessage-ID: <{abs(hash(subject))}@h.example>\r\n"
        f"Authentication-Results: {auth}\r\n{extra}"
    ).encode("utf-8", "surrogatepass"),
    header_value,
    header_value,
    header_value,
    st.sampled_from(
        ["", "Reply-To: ((((\r\n", "Date: 99 Foo 9999\r\n", "To: " + "a@b.example, " * 50 + "\r\n"]
    ),
)
tree = st.recursive(
    leaf(), lambda children: st.one_of(multipart(children), message_wrapper(children)), max_leaves=12
)


@SETTINGS
@given(top_headers, tree)
def test_random_mime_trees(headers, structure):
    check(headers + b"MIME-Version: 1.0\r\n" + structure)


# --- Outlook .msg -----------------------------------------------------------------------------------------------


@SETTINGS
@given(st.lists(mutation, min_size=1, max_size=6))
def test_damaged_msg_files(operations):
    check(mutate(VALID_MSG, operations))


@SETTINGS
@given(st.binary(max_size=3000))
def test_random_ole_files(noise):
    check(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + noise)


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    subject=header_value,
    body_text=st.text(max_size=300),
    headers=st.one_of(st.none(), st.text(max_size=400)),
    names=st.lists(header_value.filter(bool), max_size=3),
)
def test_random_msg_contents(subject, body_text, headers, names):
    data = build_msg(
        MsgMessage(
            subject=subject,
            body=body_text,
            sender_address="a@evil.example",
            transport_headers=headers,
            attachments=[MsgAttachment(name, name.encode("utf-8", "surrogatepass")) for name in names],
        )
    )
    check(data)
