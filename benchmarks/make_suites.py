"""Writes the pytest and GoogleTest benchmark suites into a directory:
500 tests each, in 10 files (suites) of 50, each test doing a little work."""

import pathlib
import sys

out = pathlib.Path(sys.argv[1])
(out / "pytest").mkdir(parents=True, exist_ok=True)
for module in range(10):
    body = ["import hashlib", ""]
    for case in range(50):
        body += [
            f"def test_case_{case:03}():",
            "    data = b'x' * 4096",
            "    for _ in range(40):",
            "        data = hashlib.sha256(data).digest() * 128",
            "    assert len(data) == 4096",
            "",
        ]
    (out / "pytest" / f"test_mod{module:02}.py").write_text("\n".join(body))

lines = ["#include <gtest/gtest.h>", "#include <string>"]
for suite in range(10):
    for case in range(50):
        lines.append(
            f"TEST(Suite{suite}, Case{case}) {{ std::string x(4096, 'x'); unsigned h = 0; "
            "for (int i = 0; i < 200; ++i) for (char c : x) h = h * 31 + c; EXPECT_NE(h, 1u); }"
        )
(out / "gtest_suite.cc").write_text("\n".join(lines) + "\n")
(out / "proctor-pytest.json").write_text(
    '{"sources": [{"name": "py", "runner": "pytest", "path": "pytest"}]}\n'
)
(out / "proctor-gtest.json").write_text(
    '{"sources": [{"name": "gt", "runner": "gtest", "path": "gtest_suite"}]}\n'
)
