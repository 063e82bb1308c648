"""A test that reached this machine through the artifacts:// downloader."""

import pathlib


def test_the_suite_arrived_with_its_data():
    data = pathlib.Path(__file__).with_name("expected.txt")
    assert data.read_text().strip() == "42"


def test_arithmetic_still_works():
    assert 6 * 7 == 42
