"""The Python API behaves like Python and like the command: paths as str or
os.PathLike, a single string never split into characters, every flag a
keyword, the same documents as `--json`, typed exceptions."""

import json
import os
import pathlib
import tempfile
import unittest
import zipfile

import wheelfix
from _util import DEMO, DEMO_LIB, check_schema, command, schema


class PathLikeOnly:
    """An os.PathLike that is not a pathlib.Path."""

    def __init__(self, p: pathlib.Path) -> None:
        self.p = p

    def __fspath__(self) -> str:
        return str(self.p)


class Api(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = pathlib.Path(tempfile.mkdtemp())

    def test_paths_take_str_and_pathlike(self) -> None:
        for wheel, lib in [(str(DEMO), str(DEMO_LIB)), (DEMO, DEMO_LIB), (PathLikeOnly(DEMO), PathLikeOnly(DEMO_LIB))]:
            doc = wheelfix.analyze(wheel, lib_path=lib)  # a single path, not a list
            self.assertEqual(doc["wheel"], DEMO.name)
            self.assertEqual(sorted(doc["linux"]["external_libs"]), ["libdemocore.so.1", "libdemoutil.so.1"])
            out = wheelfix.repair(wheel, PathLikeOnly(self.tmp / type(wheel).__name__), lib_path=[lib])
            self.assertIsInstance(out["output"], pathlib.Path)
            self.assertTrue(out["output"].is_file())

    def test_a_single_string_is_one_item(self) -> None:
        # `exclude="libdemo*"` is one glob: both libraries are left out, nothing is bundled
        doc = wheelfix.analyze(DEMO, lib_path=DEMO_LIB, exclude="libdemo*")
        statuses = {lib["name"]: lib["status"] for lib in doc["libraries"]}
        self.assertEqual(statuses, {"libdemocore.so.1": "excluded"})
        self.assertEqual(doc, wheelfix.analyze(DEMO, lib_path=[DEMO_LIB], exclude=["libdemo*"]))
        with self.assertRaises(TypeError):
            wheelfix.analyze(DEMO, lib_path=5)  # type: ignore[arg-type]

    def test_python_ranges_are_the_commands(self) -> None:
        self.assertEqual(wheelfix.expand_python_range("cp310-cp312"), ["cp310", "cp311", "cp312"])
        self.assertEqual(wheelfix.expand_python_range("cp39,pp310"), ["cp39", "pp310"])
        out = wheelfix.repair(DEMO, self.tmp, lib_path=DEMO_LIB)
        gate = wheelfix.check(out["output"], expect_python="cp310-cp312", expect_platform="manylinux_x86_64")
        cli = command("check", "--json", str(out["output"]), "--expect-python", "cp310-cp312",
                      "--expect-platform", "manylinux_x86_64")
        self.assertEqual(cli.returncode, 1, cli.stderr)
        self.assertEqual(gate, json.loads(cli.stdout))
        self.assertEqual([p["what"] for p in gate["problems"]],
                         ["no wheel for cp310 on manylinux_x86_64", "no wheel for cp312 on manylinux_x86_64"])
        check_schema(schema("check"), gate)

    def test_show_is_show_json(self) -> None:
        missing = self.tmp / "gone-1.0-py3-none-any.whl"
        doc = wheelfix.show([DEMO, missing, str(DEMO)], lib_path=DEMO_LIB)
        cli = command("show", "--json", str(DEMO), str(missing), str(DEMO), "--lib-path", str(DEMO_LIB))
        self.assertEqual(cli.returncode, 2)
        self.assertEqual(doc, json.loads(cli.stdout))
        self.assertEqual(doc["schema_version"], wheelfix.SHOW_SCHEMA_VERSION)
        self.assertEqual(doc["wheels"][0], wheelfix.analyze(DEMO, lib_path=DEMO_LIB))
        self.assertEqual(doc, wheelfix.show([DEMO, missing, str(DEMO)], lib_path=DEMO_LIB, verify=True))
        self.assertIn("no such file or directory", doc["wheels"][1]["error"])
        check_schema(schema("show"), doc)

    def test_repair_takes_the_commands_flags(self) -> None:
        out = wheelfix.repair(DEMO, self.tmp / "a", lib_path=DEMO_LIB, no_update_tags=True,
                              zip_compression_level=0, lib_sdir=".vendored", keep_rpaths=True)
        self.assertEqual(out["output"].name, DEMO.name)  # tags kept
        names = zipfile.ZipFile(out["output"]).namelist()
        self.assertTrue(any(n.startswith("demo.vendored/") for n in names), names)
        # the very bytes the command writes with the same flags
        cli = command("repair", str(DEMO), "--lib-path", str(DEMO_LIB), "--no-update-tags", "-z", "0",
                      "--lib-sdir", ".vendored", "--keep-rpaths", "-w", str(self.tmp / "b"))
        self.assertEqual(cli.returncode, 0, cli.stderr)
        self.assertEqual(out["output"].read_bytes(), pathlib.Path(cli.stdout.strip()).read_bytes())
        plat = wheelfix.repair(DEMO, self.tmp / "c", lib_path=DEMO_LIB, plat="manylinux_2_28_x86_64", only_plat=True)
        self.assertEqual(plat["platform_tags"], ["manylinux_2_28_x86_64"])
        with self.assertRaises(TypeError):
            wheelfix.repair(DEMO, self.tmp, bogus_option=True)  # type: ignore[call-arg]
        with self.assertRaises(ValueError):
            wheelfix.repair(DEMO, self.tmp, zip_compression_level=10)

    def test_errors_are_typed(self) -> None:
        with self.assertRaises(wheelfix.MissingLibrary) as e:
            wheelfix.repair(DEMO, self.tmp)
        self.assertIsInstance(e.exception, wheelfix.WheelfixError)
        self.assertEqual(e.exception.library, "libdemocore.so.1")
        self.assertIn("--lib-path", e.exception.hint or "")
        self.assertIn("hint: ", str(e.exception))
        # a library found on the search path but cut short is named as corrupt
        broken = self.tmp / "broken-lib"
        broken.mkdir()
        for lib in DEMO_LIB.iterdir():
            data = lib.read_bytes()
            (broken / lib.name).write_bytes(data[:100] if lib.name == "libdemocore.so.1" else data)
        with self.assertRaises(wheelfix.CorruptLibrary) as c:
            wheelfix.repair(DEMO, self.tmp / "out", lib_path=broken)
        self.assertIsInstance(c.exception, wheelfix.MissingLibrary)
        self.assertEqual(c.exception.library, "libdemocore.so.1")
        self.assertEqual(c.exception.path, str(broken / "libdemocore.so.1"))
        self.assertIn("is corrupt", str(c.exception))
        with self.assertRaises(wheelfix.FileError) as f:
            wheelfix.analyze(self.tmp / "nope-1.0-py3-none-any.whl")
        self.assertIn("no such file or directory", str(f.exception))
        self.assertNotIn("os error", str(f.exception))
        with self.assertRaises(wheelfix.FileError) as d:
            wheelfix.analyze(self.tmp)
        self.assertIn("is a directory", str(d.exception))
        self.assertIn("/*.whl", d.exception.hint or "")
        with self.assertRaises(wheelfix.UsageError):
            wheelfix.repair(DEMO, self.tmp, lib_path=DEMO_LIB, require_archs="arm64,pdp11")
        blocker = self.tmp / "a-file"
        blocker.write_bytes(b"")
        with self.assertRaises(wheelfix.UsageError):
            wheelfix.repair(DEMO, blocker, lib_path=DEMO_LIB)
        with self.assertRaises(wheelfix.CheckFailed) as c:
            wheelfix.check([DEMO], raise_on_problems=True)
        self.assertFalse(c.exception.report["ok"])
        self.assertEqual(c.exception.report, wheelfix.check(DEMO))

    def test_main_is_the_command(self) -> None:
        self.assertEqual(wheelfix.main(["--version"]), 0)
        self.assertEqual(wheelfix.main(["check", os.fspath(self.tmp / "nope")]), 2)


class Console(unittest.TestCase):
    def test_a_closed_pipe_ends_quietly(self) -> None:
        """`wheelfix completions zsh | head -3`: the reader is gone before the
        command writes (made certain here by closing the pipe's read end first)."""
        import subprocess

        from _util import WHEELFIX

        for args in [["completions", "zsh"], ["man"], ["show", str(DEMO)], ["--help"]]:
            read, write = os.pipe()
            os.close(read)
            r = subprocess.run([WHEELFIX, *args], stdout=write, stderr=subprocess.PIPE, text=True)
            os.close(write)
            self.assertIn(r.returncode, (0, 1, 141), f"{args}: {r.stderr}")
            self.assertEqual(r.stderr, "", args)


if __name__ == "__main__":
    unittest.main()
