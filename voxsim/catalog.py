"""Static seed data: customers, facilities, hardware models, images and hostile strings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Customer:
    """One hAPI customer account with its own key and secret."""

    customer_id: int
    name: str
    key: str
    secret: str
    domain: str
    facilities: tuple[str, ...]
    share: float  # fraction of the generated devices that belong to this customer


# Data-driven so the Django app can seed matching Accounts; add a row to add a customer.
CUSTOMERS: list[Customer] = [
    Customer(1001, "Acme Hosting", "acme-key", "acme-secret", "acme.example", ("lga7", "ams2", "sin1", "ldj1"), 0.5),
    Customer(1002, "Blue Fern Media", "bluefern-key", "bluefern-secret", "bluefern.example", ("lga7", "ams2"), 0.3),
    Customer(1003, "Northwind Labs", "northwind-key", "northwind-secret", "northwind.example", ("sin1", "ldj1"), 0.2),
]


@dataclass(frozen=True)
class Facility:
    """A data centre as devices.list names it."""

    id: int
    code: str
    name: str


FACILITIES: dict[str, Facility] = {
    f.code: f
    for f in (
        Facility(19, "lga7", "LGA7 - New York, NY"),
        Facility(23, "ams2", "AMS2 - Amsterdam, NL"),
        Facility(27, "sin1", "SIN1 - Singapore"),
        Facility(31, "ldj1", "LDJ1 - Edison, NJ"),
    )
}

# (model id, model name, core choices, memory choices in MB, drive size choices in GB)
SERVER_MODELS: tuple[tuple[int, str, tuple[int, ...], tuple[int, ...], tuple[int, ...]], ...] = (
    (56, "Voxrox Intel Platform", (2, 4, 8), (4096, 8192, 16384), (250, 500)),
    (57, "Voxrox AMD Platform", (4, 8, 12), (8192, 16384, 32768), (500, 1000)),
    (61, "Dell PowerEdge R610", (8, 12, 16), (16384, 32768, 65536), (500, 1000, 2000)),
    (64, "HP ProLiant DL380 G7", (16, 24, 32), (32768, 65536, 131072), (1000, 2000)),
)
CLOUD_CORES: tuple[int, ...] = (1, 2, 4, 8)
CLOUD_MEMORY_MB: tuple[int, ...] = (1024, 2048, 4096, 8192, 16384)
CLOUD_DISK_GB: tuple[int, ...] = (10, 20, 40, 80, 160)

ROLES: tuple[str, ...] = ("web", "db", "app", "cache", "mail", "lb", "worker", "build", "vpn", "mon")


@dataclass(frozen=True)
class ImageVersion:
    """A dated build of an image; exactly one per image is the default."""

    id: int
    date: str
    default: bool


@dataclass(frozen=True)
class Image:
    """An installable OS image as voxel.images.list describes it."""

    id: int
    summary: str
    product_family: str
    product_version: str
    architecture: str
    kernel: str
    fs_type: str
    fs_size_mb: int
    versions: tuple[ImageVersion, ...]

    @property
    def os_name(self) -> str:
        """The operating_system name a device reimaged with this image reports."""
        return f"{self.product_family} {self.product_version}"

    @property
    def description(self) -> str:
        """Long description, in the style of the LC fixture ("Base install of CentOS 5.1 i386.")."""
        arch = "i386" if self.architecture == "32" else "x86_64"
        return f"Base install of {self.os_name} {arch}."

    def version(self, version_id: int) -> ImageVersion | None:
        """The version with this id, if it belongs to this image."""
        return next((v for v in self.versions if v.id == version_id), None)

    @property
    def default_version(self) -> ImageVersion:
        """The version used when a reimage names none."""
        return next(v for v in self.versions if v.default)


# Ids and summaries from the FOG mock data quoted in hapi-protocol.md §4.2; 139 is the id MBR reimages with.
_IMAGE_ROWS: tuple[tuple[int, str, str, str, str, str, str, int], ...] = (
    (1, "CentOS 4, 32-bit, base install", "CentOS", "4.8", "32", "2.6.9", "ext3", 820),
    (2, "CentOS 4, 64-bit, base install", "CentOS", "4.8", "64", "2.6.9", "ext3", 860),
    (3, "CentOS 5, 32-bit, base install", "CentOS", "5.1", "32", "2.6.18", "ext3", 880),
    (4, "CentOS 5, 64-bit, base install", "CentOS", "5.1", "64", "2.6.18", "ext3", 910),
    (7, "Fedora 10, 32-bit, base install", "Fedora", "10", "32", "2.6.27", "ext3", 1020),
    (8, "Fedora 10, 64-bit, base install", "Fedora", "10", "64", "2.6.27", "ext3", 1060),
    (10, "OpenSUSE 11, 64-bit, base install", "openSUSE", "11.1", "64", "2.6.27", "ext3", 990),
    (11, 'Debian 5.0 "lenny", 32-bit, base install', "Debian", "5.0", "32", "2.6.26", "ext3", 540),
    (12, 'Debian 5.0 "lenny", 64-bit, base install', "Debian", "5.0", "64", "2.6.26", "ext3", 570),
    (13, 'Ubuntu 8.04 "Hardy", 32-bit, base install', "Ubuntu", "8.04", "32", "2.6.24", "ext3", 610),
    (14, 'Ubuntu 8.04 "Hardy", 64-bit, base install', "Ubuntu", "8.04", "64", "2.6.24", "ext3", 640),
    (15, "Voxel Server Environment (VSE), 32-bit, base install", "VSE", "1.0", "32", "2.6.18", "ext3", 1100),
    (16, "Voxel Server Environment (VSE), 64-bit, base install", "VSE", "1.0", "64", "2.6.18", "ext3", 1150),
    (
        32,
        "Pantheon Official Mercury Stack for Drupal (based on VSE/64)",
        "Mercury",
        "1.1",
        "64",
        "2.6.18",
        "ext3",
        1400,
    ),
    (55, 'Ubuntu 10.04 "Lucid", 64-bit, base install', "Ubuntu", "10.04", "64", "2.6.32", "ext4", 700),
    (139, 'Ubuntu 12.04 "Precise", 64-bit, base install', "Ubuntu", "12.04", "64", "3.2.0", "ext4", 760),
)

_VERSION_DATES: tuple[str, ...] = ("2010-06-15", "2010-11-01", "2011-02-01")


def _build_images() -> dict[int, Image]:
    images: dict[int, Image] = {}
    for index, (image_id, summary, family, version, arch, kernel, fs_type, fs_mb) in enumerate(_IMAGE_ROWS):
        count = 1 + index % 3
        dates = _VERSION_DATES[-count:]
        # Version ids are their own namespace, far from image ids, so a mix-up is visible in tests.
        versions = tuple(
            ImageVersion(id=700 + 3 * index + n, date=date, default=n == count - 1) for n, date in enumerate(dates)
        )
        images[image_id] = Image(image_id, summary, family, version, arch, kernel, fs_type, fs_mb, versions)
    return images


IMAGES: dict[int, Image] = _build_images()

# Served by --hostile: labels and descriptions a dashboard must escape, never interpret.
HOSTILE: tuple[tuple[str, str], ...] = (
    ('<script>alert("label")</script>.hostile.example', "<img src=x onerror=\"alert('desc')\"> & \"quotes\" 'apos'"),
    ('"><svg onload=alert(1)>', "</td></tr><script>document.title='pwned'</script>"),
    ("{{ 7*7 }}{% debug %}<b>bold</b>", "]]><!-- comment --> &amp; &lt;b&gt; javascript:alert(1)"),
)
