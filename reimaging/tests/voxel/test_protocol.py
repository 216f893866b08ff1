import pickle

import pytest

from reimaging.voxel import (
    ApiError,
    AuthError,
    Device,
    DeviceNotFoundError,
    MalformedResponseError,
    ResourceUnavailableError,
    TransientError,
    UnsafeXmlError,
    WrongDeviceTypeError,
    protocol,
)

# The libcloud nodes.xml fixture, extended with the FOG-tested elements (hapi-protocol.md §4.1).
DEVICES_XML = b"""<?xml version="1.0"?>
<rsp stat="ok">
  <devices>
    <device id="200776" label="www.voxel.net" status="on">
      <description>Z100.12</description>
      <type id="2">Virtual Server</type>
      <model id="56">Voxrox Intel Platform</model>
      <location>
        <facility id="19" code="lga7">LGA7 - XO / 12th Floor</facility>
        <zone id="26">Private cage</zone>
        <cage id="29">primary</cage>
        <row id="49">Row Z</row>
        <rack id="224">Rack 100</rack>
        <position>12</position>
      </location>
      <ipassignments>
        <ipassignment id="1" type="frontend" description="lga7 public; vlan 101">203.0.113.10</ipassignment>
        <ipassignment id="2" type="backend" description="lga6 backend network; vlan 000">172.16.0.10</ipassignment>
      </ipassignments>
      <accessmethods>
        <accessmethod type="ssh"><username>user</username></accessmethod>
        <accessmethod type="admin"><username>root</username><password>hunter2-admin</password></accessmethod>
        <accessmethod type="remoteconsole">
          <address>zz.zz.us.voxel.net</address><port>55555</port><username>user</username>
        </accessmethod>
      </accessmethods>
      <service id="777616">Voxel TruManaged Server Configuration 1</service>
      <storage><drive position="0"><size>250</size></drive><drive position="1"><size>500</size></drive></storage>
      <memory size="8192"/>
      <operating_system><name>CentOS 5.1</name><architecture>64</architecture></operating_system>
      <processor><cores>4</cores></processor>
      <power_consumption unit="W">120</power_consumption>
    </device>
    <!-- a compact device: everything optional is missing -->
    <device id="7"/>
    <device id="8"><type id="3">Virtual Server</type><model id="90">VoxCLOUD</model></device>
  </devices>
</rsp>
"""


def test_parse_devices_reads_every_field():
    device, compact, cloud = protocol.parse_devices(DEVICES_XML)
    assert device.id == 200776
    assert (device.label, device.status, device.description) == ("www.voxel.net", "on", "Z100.12")
    assert (device.type_id, device.type_name, device.model_id, device.model) == (
        2,
        "Virtual Server",
        56,
        "Voxrox Intel Platform",
    )
    assert (device.facility_code, device.facility_name) == ("lga7", "LGA7 - XO / 12th Floor")
    assert (device.zone, device.cage, device.row, device.rack, device.position) == (
        "Private cage",
        "primary",
        "Row Z",
        "Rack 100",
        "12",
    )
    assert [(ip.id, ip.type, ip.address) for ip in device.ip_assignments] == [
        (1, "frontend", "203.0.113.10"),
        (2, "backend", "172.16.0.10"),
    ]
    assert device.ip_assignments[1].description == "lga6 backend network; vlan 000"
    ssh, admin, console = device.access_methods
    assert (ssh.type, ssh.username, ssh.password) == ("ssh", "user", None)
    assert (admin.username, admin.password) == ("root", "hunter2-admin")
    assert (console.address, console.port) == ("zz.zz.us.voxel.net", 55555)
    assert [(d.position, d.size_gb) for d in device.drives] == [("0", 250), ("1", 500)]
    assert device.disk_gb == 750
    assert (device.memory_mb, device.os_name, device.os_architecture, device.cores) == (8192, "CentOS 5.1", 64, 4)
    assert isinstance(device.ip_assignments, tuple)
    assert isinstance(device.drives, tuple)
    assert not device.is_voxcloud
    assert compact == Device(id=7)
    assert compact.disk_gb == 0
    assert cloud.is_voxcloud


def test_parse_devices_values_are_frozen():
    device = protocol.parse_devices(DEVICES_XML)[0]
    with pytest.raises(AttributeError):
        device.label = "x"  # type: ignore[misc]


def test_parse_devices_password_kept_out_of_repr():
    device = protocol.parse_devices(DEVICES_XML)[0]
    assert "hunter2-admin" not in repr(device)
    assert "hunter2-admin" not in str(device.access_methods)


def test_parse_devices_tolerates_unreadable_optional_numbers():
    body = b'<rsp stat="ok"><devices><device id="5"><memory size="lots"/><processor><cores>x</cores></processor>'
    body += b"<storage><drive><size/></drive></storage></device></devices></rsp>"
    (device,) = protocol.parse_devices(body)
    assert (device.memory_mb, device.cores, device.drives[0].size_gb, device.disk_gb) == (None, None, None, 0)


def test_parse_devices_missing_id_is_malformed():
    with pytest.raises(MalformedResponseError):
        protocol.parse_devices(b'<rsp stat="ok"><devices><device label="x"/></devices></rsp>')


def test_parse_devices_missing_container_is_malformed():
    with pytest.raises(MalformedResponseError) as info:
        protocol.parse_devices(b'<rsp stat="ok"/>')
    assert info.value.maybe_delivered
    assert info.value.method == "voxel.devices.list"


def test_parse_devices_utf16_document():
    body = '<?xml version="1.0" encoding="UTF-16"?><rsp stat="ok"><devices><device id="4"/></devices></rsp>'
    assert protocol.parse_devices(body.encode("utf-16")) == (Device(id=4),)


def test_parse_devices_ignores_items_outside_the_list():
    body = b'<rsp stat="ok"><device id="1"/><devices><device id="2"><device id="3"/></device></devices></rsp>'
    assert [d.id for d in protocol.parse_devices(body)] == [2]


def test_parse_devices_empty_list():
    assert protocol.parse_devices(b'<rsp stat="ok"><devices/></rsp>') == ()


def test_parse_images_extended_and_compact():
    body = b"""<rsp stat="ok"><images>
      <image id="3" summary="CentOS 5, 32-bit, base install">
        <operating_system><architecture>32</architecture><family>Linux</family><version>2.6.18</version>
          <product_family>CentOS</product_family><product_version>5.1</product_version>
          <admin_username>root</admin_username></operating_system>
        <filesystem><type>ext3</type><size units="MB">880</size></filesystem>
        <description>Base install of CentOS 5.1 i386.</description>
        <versions><version id="700">2010-06-15</version><version id="701" default="true">2011-02-01</version></versions>
      </image>
      <image id="4" summary="CentOS 5, 64-bit, base install"/>
    </images></rsp>"""
    full, compact = protocol.parse_images(body)
    assert (full.id, full.summary, full.architecture, full.family, full.version) == (
        3,
        "CentOS 5, 32-bit, base install",
        32,
        "Linux",
        "2.6.18",
    )
    assert (full.product_family, full.product_version, full.admin_username) == ("CentOS", "5.1", "root")
    assert full.description == "Base install of CentOS 5.1 i386."
    assert [(v.id, v.label, v.is_default) for v in full.versions] == [
        (700, "2010-06-15", False),
        (701, "2011-02-01", True),
    ]
    assert (compact.id, compact.architecture, compact.versions) == (4, None, ())


def test_parse_vlans_reads_subnets():
    body = b"""<rsp stat="ok"><vlans>
      <vlan id="101" type="frontend" facility="lga7" description="lga7 public; vlan 101">
        <subnet network="203.0.113.0/26" gateway="203.0.113.1"/>
        <subnet network="198.51.100.0/28" gateway="198.51.100.1"/>
      </vlan></vlans></rsp>"""
    (vlan,) = protocol.parse_vlans(body)
    assert (vlan.id, vlan.type, vlan.facility, vlan.description) == (101, "frontend", "lga7", "lga7 public; vlan 101")
    assert [(s.network, s.gateway) for s in vlan.subnets] == [
        ("203.0.113.0/26", "203.0.113.1"),
        ("198.51.100.0/28", "198.51.100.1"),
    ]


def test_parse_reimage_reads_device():
    body = b'<rsp stat="ok"><device><id>1234</id><last_update>1235386846</last_update>'
    body += b"<status>IN_PROGRESS</status></device></rsp>"
    accepted = protocol.parse_reimage(body)
    assert (accepted.device_id, accepted.last_update, accepted.status) == (1234, 1235386846, "IN_PROGRESS")


def test_parse_statuses_reads_extended_status():
    body = b"""<rsp stat="ok"><devices>
      <device><id>1</id><last_update>100</last_update><status>IN_PROGRESS</status>
        <extended_status>Installing base system (40%)</extended_status></device>
      <device><id>2</id><status>SUCCEEDED</status></device>
    </devices></rsp>"""
    first, second = protocol.parse_statuses(body)
    assert (first.device_id, first.status, first.last_update) == (1, "IN_PROGRESS", 100)
    assert first.extended_status == "Installing base system (40%)"
    assert (second.device_id, second.last_update, second.extended_status) == (2, None, None)


def test_parse_api_version_reads_methods():
    body = b'<rsp stat="ok"><version><number>1.0</number><methods><method name="voxel.devices.list"/>'
    body += b"<method>voxel.images.list</method><method/></methods></version></rsp>"
    version = protocol.parse_api_version(body)
    assert version.version == "1.0"
    assert version.methods == ("voxel.devices.list", "voxel.images.list")


@pytest.mark.parametrize(
    ("code", "error_class"),
    [
        (1, AuthError),
        (9, AuthError),
        (100, DeviceNotFoundError),
        (110, WrongDeviceTypeError),
        (206, ResourceUnavailableError),
        (300, ApiError),
        (201, ApiError),
    ],
)
def test_parse_fail_maps_code_to_error(code, error_class):
    body = f'<rsp stat="fail"><err code="{code}" msg="the message"/></rsp>'.encode()
    with pytest.raises(error_class) as info:
        protocol.parse_devices(body)
    assert type(info.value) is error_class
    assert (info.value.code, info.value.msg, info.value.method) == (code, "the message", "voxel.devices.list")
    assert "the message" in str(info.value)


def test_parse_fail_resource_unavailable_is_transient_and_not_delivered():
    with pytest.raises(TransientError) as info:
        protocol.parse_reimage(b'<rsp stat="fail"><err code="206" msg="Failed acquiring resource"/></rsp>')
    assert info.value.maybe_delivered is False


def test_parse_fail_bare_is_api_error_without_code():
    # libcloud's failure.xml
    with pytest.raises(ApiError) as info:
        protocol.parse_empty(b'<?xml version="1.0"?>\n<rsp stat="fail"/>', "voxel.devices.power")
    assert type(info.value) is ApiError
    assert info.value.code is None


def test_parse_fail_with_debug_extras_reads_err():
    # libcloud's unauthorized.xml
    body = b"""<?xml version="1.0"?>
<rsp stat="fail">
  <err code="1" msg="Invalid login or password"/>
  <method>voxel.devices.list</method>
  <parameters><param name="timestamp">2010-02-10T23:39:25.808107+0000</param>
    <param name="key">authshouldfail</param><param name="api_sig">ae069bb8</param></parameters>
  <string_to_sign>YOUR_SECRETtimestamp2010-02-10T23:39:25.808107+0000methodvoxel.devices.list</string_to_sign>
</rsp>"""
    with pytest.raises(AuthError) as info:
        protocol.parse_devices(body)
    assert info.value.msg == "Invalid login or password"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml",
        b'<rsp stat="ok"><devices><device id="1">',
        b"<html><body>502 Bad Gateway</body></html>",
        b'<rsp stat="maybe"/>',
        b"<rsp/>",
        b'<rsp stat="ok"><devices>&undefined;</devices></rsp>',
        b'<?xml version="1.0" encoding="bogus"?><rsp stat="ok"><devices/></rsp>',
        b"\xff\xfe<\x00",
        b"\x00\x00",
        b'<rsp stat="ok"><devices/></rsp><rsp/>',
        b'<wrapper><rsp stat="ok"><devices/></rsp></wrapper>',
    ],
)
def test_parse_malformed_is_transient(body):
    with pytest.raises(MalformedResponseError) as info:
        protocol.parse_devices(body)
    assert info.value.maybe_delivered is True


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rsp stat="ok"><devices><device id="1" label="&lol9;"><description>&lol9;</description></device></devices></rsp>
"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE rsp [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rsp stat="ok"><devices><device id="1"><description>&xxe;</description></device></devices></rsp>
"""

XXE_PARAMETER = b"""<?xml version="1.0"?>
<!DOCTYPE rsp [<!ENTITY % remote SYSTEM "file:///etc/passwd"> %remote;]>
<rsp stat="ok"><devices/></rsp>
"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE rsp SYSTEM "http://127.0.0.1:9/evil.dtd">
<rsp stat="ok"><devices/></rsp>
"""


@pytest.mark.parametrize("body", [BILLION_LAUGHS, XXE, XXE_PARAMETER, EXTERNAL_DTD])
def test_parse_refuses_entity_declarations(body):
    with pytest.raises(UnsafeXmlError) as info:
        protocol.parse_devices(body)
    assert isinstance(info.value, TransientError)
    assert "root:" not in str(info.value)


def test_parse_refuses_entities_in_fail_replies_too():
    body = XXE.replace(b'stat="ok"', b'stat="fail"').replace(b"<devices>", b'<err code="1" msg="&xxe;"/><devices>')
    with pytest.raises(UnsafeXmlError):
        protocol.parse_devices(body)


def test_parse_accepts_plain_doctype():
    assert protocol.parse_devices(b'<!DOCTYPE rsp><rsp stat="ok"><devices/></rsp>') == ()


def test_errors_survive_pickling():
    err = ResourceUnavailableError("x", method="m", code=206, msg="busy")
    copy = pickle.loads(pickle.dumps(err))  # noqa: S301
    assert (type(copy), copy.method, copy.code, copy.msg, copy.maybe_delivered, str(copy)) == (
        ResourceUnavailableError,
        "m",
        206,
        "busy",
        False,
        "m: x",
    )


@pytest.mark.parametrize("body", [XXE, BILLION_LAUGHS])
def test_parse_refuses_entity_declarations_in_other_encodings(body):
    encoded = body.decode().replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>').encode("utf-16")
    assert b"<!ENTITY" not in encoded
    with pytest.raises(TransientError) as info:
        protocol.parse_devices(encoded)
    assert "passwd" not in str(info.value)
    if body is XXE:
        assert isinstance(info.value, UnsafeXmlError)
