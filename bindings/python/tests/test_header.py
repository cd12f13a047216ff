"""The generated ABI tables (ttlkv/_abi.py) against include/ttlkv.h, and against the library.

``tools/gen_abi.py`` writes ``_abi.py`` from the header; here it runs again in memory and the
committed module must be exactly what it writes (``make python-abi`` refreshes it). The header
is also compiled: a small C program prints every constant, struct size and field offset as the
C compiler sees them, for comparison with ctypes. And the loaded library must agree with the
tables: its prototypes applied, its status and counter names those of the header. A missing
header fails these tests: nothing falls back.
"""

from __future__ import annotations

import ast
import ctypes
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Dict, List, Set

import pytest

import ttlkv
from ttlkv import _abi, _errors, _ffi
from conftest import HEADER, REPO_ROOT

PACKAGE_ROOT = REPO_ROOT / "bindings" / "python"
GENERATOR = PACKAGE_ROOT / "tools" / "gen_abi.py"
COMMITTED = PACKAGE_ROOT / "src" / "ttlkv" / "_abi.py"
COMMITTED_ERRORS = PACKAGE_ROOT / "src" / "ttlkv" / "_errors.py"


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_abi", GENERATOR)
    assert spec and spec.loader, GENERATOR
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_abi"] = module  # NamedTuple needs its module importable
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    return load_generator()


@pytest.fixture(scope="module")
def header_text() -> str:
    assert HEADER.is_file(), f"the header {HEADER} is missing: the tables cannot be checked"
    return HEADER.read_text()


@pytest.fixture(scope="module")
def header(gen: ModuleType, header_text: str):  # type: ignore[no-untyped-def]
    return gen.Header(header_text)


def run_rendered(source: str) -> Dict[str, object]:
    namespace: Dict[str, object] = {"__name__": "rendered_abi"}
    exec(compile(source, "<rendered _abi.py>", "exec"), namespace)  # noqa: S102 - our own output
    return namespace


# --- the generated module is fresh ------------------------------------------------------------


def test_committed_abi_module_is_what_the_generator_writes(gen: ModuleType, header_text: str) -> None:
    fresh = gen.render(header_text)
    assert COMMITTED.read_text() == fresh, (
        f"{COMMITTED} is stale against {HEADER}: run `make python-abi` and commit the result"
    )


def test_committed_error_classes_are_what_the_generator_writes(gen: ModuleType, header_text: str) -> None:
    current = COMMITTED_ERRORS.read_text()
    assert gen.render_errors(header_text, current) == current, (
        f"the generated classes of {COMMITTED_ERRORS} are stale against {HEADER}: run "
        "`make python-abi` and commit the result"
    )


def test_installed_modules_are_the_committed_ones() -> None:
    for module, committed in ((_abi, COMMITTED), (_errors, COMMITTED_ERRORS)):
        assert Path(module.__file__ or "").read_text() == committed.read_text(), (
            f"the installed {module.__name__} differs from the source tree's: reinstall "
            "(make python-install)"
        )


def test_generator_check_mode_names_the_make_target(tmp_path: Path) -> None:
    abi, errors = tmp_path / "_abi.py", tmp_path / "_errors.py"
    command = [sys.executable, str(GENERATOR), "--header", str(HEADER), "--check"]
    command += ["--output", str(abi), "--errors", str(errors)]
    for stale, fresh, edit in (
        (abi, COMMITTED, ('"TTLKV_OK": 0', '"TTLKV_OK": 7')),
        (errors, COMMITTED_ERRORS, ("code = 102", "code = 7")),
    ):
        shutil.copy(COMMITTED, abi)
        shutil.copy(COMMITTED_ERRORS, errors)
        assert edit[0] in stale.read_text()
        stale.write_text(fresh.read_text().replace(*edit))
        proc = subprocess.run(command, capture_output=True, text=True)
        assert proc.returncode == 1 and "make python-abi" in proc.stderr and stale.name in proc.stderr
        shutil.copy(fresh, stale)
        assert subprocess.run(command, capture_output=True, text=True).returncode == 0


def test_a_new_function_needs_no_hand_written_python(gen: ModuleType, header_text: str) -> None:
    """A prototype added to the header appears in FUNCTIONS with its ctypes, and nothing
    else changes."""
    prototype = (
        "ttlkv_status ttlkv_added_later(struct ttlkv_store *s,\n"
        "                         const uint8_t *ns,\n"
        "                         size_t ns_len,\n"
        "                         uint64_t ttl_ms,\n"
        "                         uint64_t *deadline_ms);\n\n"
    )
    end = '#ifdef __cplusplus\n}  // extern "C"'
    assert end in header_text
    rendered = run_rendered(gen.render(header_text.replace(end, prototype + end)))
    functions = rendered["FUNCTIONS"]
    assert isinstance(functions, dict)
    store = rendered["ttlkv_store"]
    assert functions["ttlkv_added_later"] == (
        ctypes.c_uint32,
        [ctypes.POINTER(store), ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64,  # type: ignore[arg-type]
         ctypes.POINTER(ctypes.c_uint64)],
    )
    assert set(functions) == set(_abi.FUNCTIONS) | {"ttlkv_added_later"}


def test_a_type_without_a_ctypes_spelling_is_an_error(gen: ModuleType, header_text: str) -> None:
    end = '#ifdef __cplusplus\n}  // extern "C"'
    odd = header_text.replace(end, "ttlkv_status ttlkv_scale(struct ttlkv_store *s, double f);\n" + end)
    with pytest.raises(gen.UnsupportedType, match=r"ttlkv_scale\(f\).*double"):
        gen.render(odd)


# --- the parser read the whole header ---------------------------------------------------------


def test_parser_found_every_declaration(header, header_text: str) -> None:  # type: ignore[no-untyped-def]
    uncommented = re.sub(r"/\*.*?\*/", " ", header_text, flags=re.S)
    prototypes = set(re.findall(r"\b(ttlkv_\w+)\s*\(", uncommented))
    assert set(header.functions) == prototypes
    assert len(header.functions) >= 30
    assert {"ttlkv_record", "ttlkv_buf"} <= set(header.structs)
    assert {"ttlkv_key_list", "ttlkv_options", "ttlkv_store"} <= set(header.opaque)
    assert header.status["TTLKV_OK"] == 0 and header.status["TTLKV_PANIC"] == 900
    defines = set(re.findall(r"^[ \t]*#[ \t]*define[ \t]+(TTLKV_\w+)[ \t]+\S", uncommented, flags=re.M))
    versions = {f"TTLKV_VERSION_{part}" for part in ("MAJOR", "MINOR", "PATCH", "NUMBER")}
    assert set(header.constants) == defines - versions


def test_tables_match_the_header(header) -> None:  # type: ignore[no-untyped-def]
    assert _abi.STATUS == header.status
    assert _abi.CONSTANTS == header.constants
    assert _abi.ABI_VERSION == header.constants["TTLKV_ABI_VERSION"]
    assert list(_abi.FUNCTIONS) == list(header.functions)
    for name, function in header.functions.items():
        assert len(_abi.FUNCTIONS[name][1]) == len(function.params), name
    assert list(_abi.STRUCTS) == list(header.structs)
    for name, fields in header.structs.items():
        assert [f[0] for f in _abi.STRUCTS[name]._fields_] == [f.name for f in fields], name  # type: ignore[attr-defined]
    assert set(_abi.OPAQUE) == set(header.opaque)


# --- the library agrees with the tables -------------------------------------------------------


def test_every_function_is_declared_on_the_library() -> None:
    for name, (restype, argtypes) in _abi.FUNCTIONS.items():
        function = getattr(_ffi.lib, name)
        assert function.restype is restype, name
        assert list(function.argtypes or []) == argtypes, name


def test_abi_version_of_header_package_and_library(header) -> None:  # type: ignore[no-untyped-def]
    assert header.constants["TTLKV_ABI_VERSION"] == ttlkv.ABI_VERSION == _abi.ABI_VERSION
    assert _ffi.lib.ttlkv_abi_version() == ttlkv.ABI_VERSION


def test_library_package_and_header_versions_agree(gen: ModuleType, header) -> None:  # type: ignore[no-untyped-def]
    number = gen.c_integer(header.macros["TTLKV_VERSION_NUMBER"], {})
    assert _ffi.lib.ttlkv_version_number() == number == _abi.VERSION_NUMBER
    major, minor, patch = (int(part) for part in ttlkv.__version__.split("."))
    assert (major << 16) | (minor << 8) | patch == _abi.VERSION_NUMBER


def test_every_status_has_library_text() -> None:
    for name, code in _abi.STATUS.items():
        text = _ffi.decode(_ffi.lib.ttlkv_status_str(code))
        assert text and text != "unknown status", name
    assert _ffi.decode(_ffi.lib.ttlkv_status_str(65535)) == "unknown status"


def test_status_names_agree_with_the_library() -> None:
    """The header's TTLKV_<NAME> is the library's ttlkv_status_name() "<name>" for every code
    (the word the Elixir binding makes its atoms of)."""
    for name, code in _abi.STATUS.items():
        assert _ffi.decode(_ffi.lib.ttlkv_status_name(code)) == name[len("TTLKV_"):].lower(), name
    assert _ffi.decode(_ffi.lib.ttlkv_status_name(65535)) == "unknown"


def test_counter_names_agree_with_the_header() -> None:
    """stats() takes its names from ttlkv_stat_name(); they are the header's TTLKV_STAT_*."""
    from_header = {
        name[len("TTLKV_STAT_"):].lower(): value
        for name, value in _abi.CONSTANTS.items()
        if name.startswith("TTLKV_STAT_")
    }
    assert dict(_ffi.STATS) == from_header
    assert [which for _, which in _ffi.STATS] == list(range(len(_ffi.STATS)))
    assert _ffi.lib.ttlkv_stat_name(len(_ffi.STATS)) is None


# --- what the C compiler sees -----------------------------------------------------------------


def test_the_c_compiler_agrees_on_sizes_offsets_and_values(header, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Compiles a program against the header: what C sees is what ctypes uses."""
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "a C compiler is needed to check the header"
    values = {**_abi.STATUS, **_abi.CONSTANTS}
    scalars: Dict[str, object] = {}  # every C scalar type of a field or parameter -> its ctypes
    for fields in header.structs.values():
        for f in fields:
            if "*" not in f.ctype:
                scalars[header.resolve(f.ctype)] = getattr(ctypes, header.python_type(f.ctype, field=True))
    for function in header.functions.values():
        for p in function.params:
            if "*" not in p.ctype:
                scalars[header.resolve(p.ctype)] = getattr(ctypes, header.python_type(p.ctype))
    checks: List[str] = []
    for name in values:
        checks.append(f'printf("\\"{name}\\": %llu", (unsigned long long)({name}));')
    for struct, cls in _abi.STRUCTS.items():
        checks.append(f'printf("\\"sizeof {struct}\\": %zu", sizeof({struct}));')
        for field, *_ in cls._fields_:  # type: ignore[attr-defined]
            checks.append(f'printf("\\"offsetof {struct}.{field}\\": %zu", offsetof({struct}, {field}));')
    for ctype in scalars:
        checks.append(f'printf("\\"sizeof {ctype}\\": %zu", sizeof({ctype}));')
    checks.append('printf("\\"sizeof void *\\": %zu", sizeof(void *));')
    lines = ["#include <stdio.h>", "#include <stddef.h>", f'#include "{HEADER}"', "int main(void) {"]
    lines += ['printf("{");', 'printf(", ");'.join(checks), 'printf("}\\n");', "return 0; }"]
    source = tmp_path / "check.c"
    source.write_text("\n".join(lines))
    binary = tmp_path / "check"
    subprocess.run([cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-o", str(binary), str(source)], check=True)
    seen = json.loads(subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout)
    for name, value in values.items():
        assert seen[name] == value, name
    for struct, cls in _abi.STRUCTS.items():
        assert seen[f"sizeof {struct}"] == ctypes.sizeof(cls), struct
        for field, *_ in cls._fields_:  # type: ignore[attr-defined]
            assert seen[f"offsetof {struct}.{field}"] == getattr(cls, field).offset, field
    assert {"uint32_t", "uint64_t", "size_t", "int32_t"} <= set(scalars)
    for ctype, ct in scalars.items():
        assert seen[f"sizeof {ctype}"] == ctypes.sizeof(ct), ctype  # type: ignore[arg-type]
    assert seen["sizeof void *"] == ctypes.sizeof(ctypes.c_void_p)


# --- the package's layout ---------------------------------------------------------------------


def _package_modules() -> Dict[str, ast.Module]:
    package = Path(ttlkv.__file__).parent
    return {path.stem: ast.parse(path.read_text()) for path in sorted(package.glob("*.py"))}


def _runtime_imports(tree: ast.Module) -> Set[str]:
    """The modules a module imports when it runs (``if TYPE_CHECKING:`` blocks left out)."""
    found: Set[str] = set()

    def visit(nodes: List[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level and node.module:
                    found.add("." + node.module)
                elif node.level:
                    found.update("." + alias.name for alias in node.names)
                elif node.module:
                    found.add(node.module)
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    visit([child])

    visit(tree.body)
    return found


def test_only_the_loader_and_the_tables_import_ctypes() -> None:
    users = {
        name
        for name, tree in _package_modules().items()
        if any(i == "ctypes" or i.startswith("ctypes.") for i in _runtime_imports(tree))
    }
    assert users == {"_ffi", "_abi"}


def test_the_package_has_no_import_cycles() -> None:
    modules = _package_modules()
    graph = {
        name: {i[1:] for i in _runtime_imports(tree) if i.startswith(".") and i[1:] in modules}
        for name, tree in modules.items()
    }
    assert graph["_abi"] == set() and graph["_store"] >= {"_namespace", "_native", "_lifetime"}
    visiting: List[str] = []
    done: Set[str] = set()

    def walk(name: str) -> None:
        assert name not in visiting, f"import cycle: {' -> '.join(visiting + [name])}"
        if name in done:
            return
        visiting.append(name)
        for dependency in graph[name]:
            walk(dependency)
        visiting.pop()
        done.add(name)

    for name in graph:
        walk(name)
