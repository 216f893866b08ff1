"""The reply parsers, fed arbitrary and mutated documents, return a value or raise a VoxelError, nothing else."""

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reimaging.voxel import ApiError, TransientError, protocol

from .test_protocol import DEVICES_XML

PARSERS = (
    protocol.parse_devices,
    protocol.parse_images,
    protocol.parse_vlans,
    protocol.parse_reimage,
    protocol.parse_statuses,
    protocol.parse_api_version,
)

SEEDS = (
    DEVICES_XML,
    b'<rsp stat="ok"><images><image id="3" summary="s"><operating_system><architecture>32</architecture>'
    b'</operating_system><versions><version id="7" default="true">2011-02-01</version></versions>'
    b"</image></images></rsp>",
    b'<rsp stat="ok"><vlans><vlan id="101" type="frontend" facility="lga7" description="d">'
    b'<subnet network="203.0.113.0/26" gateway="203.0.113.1"/></vlan></vlans></rsp>',
    b'<rsp stat="ok"><device><id>1</id><last_update>2</last_update><status>IN_PROGRESS</status></device></rsp>',
    b'<rsp stat="ok"><devices><device><id>1</id><extended_status>x</extended_status></device></devices></rsp>',
    b'<rsp stat="ok"><version><number>1.0</number><methods><method name="a"/></methods></version></rsp>',
    b'<rsp stat="fail"><err code="100" msg="no"/></rsp>',
    b'<rsp stat="fail"/>',
)

FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def _check(parse, body):
    with contextlib.suppress(TransientError, ApiError):
        parse(body)


@st.composite
def mutated(draw):
    """A valid seed with a few bytes replaced, inserted or cut."""
    body = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(body)))
        action = draw(st.sampled_from(("replace", "insert", "cut")))
        chunk = draw(st.binary(min_size=1, max_size=8) | st.sampled_from((b"<", b">", b'"', b"&", b"</device>", b"x")))
        if action == "replace":
            body[at : at + len(chunk)] = chunk
        elif action == "insert":
            body[at:at] = chunk
        else:
            del body[at:]
    return bytes(body)


@st.composite
def retagged(draw):
    """A valid seed whose text and attribute values were swapped for arbitrary strings."""
    body = draw(st.sampled_from(SEEDS)).decode()
    text = draw(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20))
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
    for value in ("1", "2", "32", "8192", "lga7", "IN_PROGRESS", "100", "true", "ok", "fail"):
        if draw(st.booleans()):
            body = body.replace(f">{value}<", f">{escaped}<").replace(f'"{value}"', f'"{escaped}"')
    return body.encode()


@FUZZ
@given(parse=st.sampled_from(PARSERS), body=st.binary(max_size=300))
def test_parse_arbitrary_bytes_raise_only_voxel_errors(parse, body):
    _check(parse, body)


@FUZZ
@given(parse=st.sampled_from(PARSERS), body=mutated())
def test_parse_mutated_documents_raise_only_voxel_errors(parse, body):
    _check(parse, body)


@FUZZ
@given(parse=st.sampled_from(PARSERS), body=retagged())
def test_parse_odd_values_raise_only_voxel_errors(parse, body):
    _check(parse, body)
