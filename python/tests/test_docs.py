"""The examples of docs/python.md run as written: every ```python block, in
order, in one namespace, from a fresh directory that holds the repository's
fixtures/ (so relative paths like `fixtures/demo/...` and `wheelhouse` work)."""

import contextlib
import io
import os
import re
import tempfile
import unittest

from _util import ROOT


class Docs(unittest.TestCase):
    def test_python_md_examples_run(self) -> None:
        text = (ROOT / "docs/python.md").read_text()
        blocks = re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)
        self.assertGreaterEqual(len(blocks), 2)
        here = os.getcwd()
        with tempfile.TemporaryDirectory() as tmp:
            os.symlink(ROOT / "fixtures", os.path.join(tmp, "fixtures"))
            os.chdir(tmp)
            try:
                namespace: dict = {}
                for i, block in enumerate(blocks):
                    out = io.StringIO()
                    with contextlib.redirect_stdout(out):
                        exec(compile(block, f"docs/python.md block {i + 1}", "exec"), namespace)
                    self.assertTrue(out.getvalue(), f"block {i + 1} printed nothing")
            finally:
                os.chdir(here)


if __name__ == "__main__":
    unittest.main()
