"""Files people edit or upload: kiosk configuration, catalog files, photos and blobs."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import tempfile
import zlib
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from device_drivers.camera.image_files import BadImage, decode_image
from firmware_config import ConfigError, KioskConfig, parse_config
from firmware_config.loader import read_raw
from hub.blobs import BlobRejected, check_blob
from hub.catalog.loader import DATA_DIR, load_catalog
from protocols.catalog import CatalogError
from protocols.examples import example_page

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=20)
CONFIG = {
    "format": 2,
    "station": {"id": "411381101201", "name": "关庄村便民服务站", "town": "构林镇"},
    "hub": {"url": "https://hub.example.cn"},
    "broker": {"url": "mqtts://mqtt.example.cn:8883"},
    "tls": {"ca_file": "/etc/cunban/ca.pem", "credentials_file": "/etc/cunban/mqtt.json"},
    "devices": {"idcard": {"type": "sam", "port": "/dev/ttyUSB0"},
                "printer": {"type": "escpos-serial", "port": "/dev/ttyUSB2"}},
}
PAGE = example_page("property")
ITEMS = yaml.load((DATA_DIR / "huji_weijian.yaml").read_text(encoding="utf-8"),
                  Loader=yaml.CSafeLoader)


def _config_or_problems(raw) -> None:
    try:
        assert isinstance(parse_config(raw), KioskConfig)
    except ConfigError as exc:
        assert exc.problems
        for p in exc.problems:
            assert p.message.strip(), p


@given(raw=json_values)
def test_any_configuration_document_is_accepted_or_every_problem_is_named(raw):
    _config_or_problems(raw)


@given(section=st.sampled_from(["format", "station", "hub", "broker", "tls", "devices",
                                "unknown"]),
       key=st.sampled_from(["id", "url", "type", "port", "name", "baudrate", "idcard"]),
       value=json_values)
def test_a_valid_configuration_with_one_value_replaced_is_accepted_or_named(section, key,
                                                                              value):
    raw = json.loads(json.dumps(CONFIG))
    if isinstance(raw.get(section), dict):
        raw[section][key] = value
    else:
        raw[section] = value
    _config_or_problems(raw)


@given(text=st.text(max_size=200), suffix=st.sampled_from([".yaml", ".json"]))
def test_any_configuration_file_text_is_read_or_refused_with_a_reason(text, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"kiosk{suffix}"
        path.write_text(text, encoding="utf-8")
        try:
            _config_or_problems(read_raw(path))
        except ConfigError as exc:
            assert all(p.message.strip() for p in exc.problems)


@pytest.fixture(scope="module")
def catalog_copy(tmp_path_factory):
    root = tmp_path_factory.mktemp("catalog")
    shutil.copytree(DATA_DIR, root / "data")
    return root / "data"


def _catalog_or_problems(directory: Path) -> None:
    try:
        load_catalog(directory)
    except CatalogError as exc:
        assert exc.problems and all(p.strip() for p in exc.problems)


@settings(max_examples=25)  # each example loads the whole catalog (~0.1 s)
@given(text=st.text(max_size=300))
def test_any_text_as_a_catalog_file_loads_or_every_problem_is_named(catalog_copy, text):
    extra = catalog_copy / "zz_hostile.yaml"
    extra.write_text(text, encoding="utf-8")
    try:
        _catalog_or_problems(catalog_copy)
    finally:
        extra.unlink()


@settings(max_examples=25)
@given(value=json_values, key=st.sampled_from(["code", "name", "department", "materials",
                                               "form", "promised_days", "status"]))
def test_a_catalog_item_with_one_value_replaced_loads_or_the_problem_is_named(
        catalog_copy, value, key):
    source = DATA_DIR / "huji_weijian.yaml"
    items = json.loads(json.dumps(ITEMS))
    items["items"][0][key] = value
    target = catalog_copy / "huji_weijian.yaml"
    target.write_text(yaml.dump(items, Dumper=yaml.CSafeDumper, allow_unicode=True),
                      encoding="utf-8")
    try:
        _catalog_or_problems(catalog_copy)
    finally:
        shutil.copy(source, target)


def _png(width: int, height: int, body: bytes = b"") -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(body))
            + chunk(b"IEND", b""))


images = st.one_of(
    st.binary(max_size=400),  # wrong type, noise
    st.integers(1, len(PAGE) - 1).map(lambda n: PAGE[:n]),  # truncated JPEG
    st.tuples(st.integers(0, len(PAGE) - 1), st.binary(min_size=1, max_size=8)).map(
        lambda t: PAGE[:t[0]] + t[1] + PAGE[t[0] + len(t[1]):]),  # damaged JPEG
    st.tuples(st.integers(10_000, 65_535), st.integers(10_000, 65_535)).map(
        lambda wh: _png(*wh)),  # a decompression bomb: a huge canvas in a tiny file
    st.tuples(st.integers(0, 40), st.integers(0, 40)).map(lambda wh: _png(*wh)),
)


@given(data=images)
def test_an_uploaded_image_is_decoded_or_refused_with_what_to_do(data):
    try:
        image = decode_image(data)
    except BadImage as exc:
        assert exc.message.strip() and exc.message != str(data)
    else:
        assert image.ndim == 3 and image.size > 0


@given(data=images)
def test_a_blob_at_the_hub_is_accepted_as_its_type_or_refused_with_a_reason(data):
    try:
        mime = check_blob(hashlib.sha256(data).hexdigest(), data)
    except BlobRejected as exc:
        assert exc.reason.strip()
    else:
        assert mime in ("image/jpeg", "image/png", "application/pdf")


def test_a_decompression_bomb_is_refused_before_it_is_decoded():
    with pytest.raises(BadImage) as info:
        decode_image(_png(60_000, 60_000))
    assert "尺寸太大" in info.value.message
