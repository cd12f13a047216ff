"""The ctypes declarations of ttlkv._ffi against include/ttlkv.h.

The header is parsed (functions, parameter names and types, structs, typedefs, constants)
and also compiled: a small C program prints every constant, struct size and field offset as
the C compiler sees them. A missing header fails these tests: nothing falls back.
"""

from __future__ import annotations

import ctypes
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

import ttlkv
from ttlkv import _ffi
from conftest import HEADER

#: Macros of the header that are not integer constants of the ABI.
#: (The version macros change with every release, not with the ABI; a test below checks that
#: the loaded library's version number is the header's.)
NOT_CONSTANTS = re.compile(r"^(TTLKV_H|TTLKV_.*_H|.*_INCLUDED|TTLKV_VERSION_(MAJOR|MINOR|PATCH|NUMBER))$")

Function = Tuple[str, List[Tuple[str, str]]]


class Header:
    """What the parser found in the header."""

    def __init__(self, text: str) -> None:
        self.raw = text
        text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
        text = re.sub(r"//[^\n]*", " ", text)
        defines = re.findall(r"^\s*#\s*define\s+(\w+)(?:[ \t]+([^\n]*))?$", text, flags=re.M)
        text = re.sub(r"^\s*#[^\n]*$", " ", text, flags=re.M)
        text = re.sub(r'extern\s+"C"\s*\{', " ", text)
        self.macros: Dict[str, str] = {n: (v or "").strip() for n, v in defines}
        self.constants: Dict[str, int] = {}
        for name, value in self.macros.items():
            if name.startswith("TTLKV_") and value and not NOT_CONSTANTS.match(name):
                self.constants[name] = c_integer(value, self.constants)
        self.structs: Dict[str, List[Tuple[str, str]]] = {}
        self.typedefs: Dict[str, str] = {}
        # Enums: `[typedef] enum [name] { A = 1, ... } [name];`
        enum = r"enum\s*\w*\s*(?::\s*\w+\s*)?\{"  # C++ has `enum x : uint32_t {`
        for body in re.findall(enum + r"(.*?)\}", text, flags=re.S):
            value = -1
            for item in filter(None, (i.strip() for i in body.split(","))):
                name, _, expr = item.partition("=")
                value = c_integer(expr, self.constants) if expr.strip() else value + 1
                self.constants[name.strip()] = value
        text = re.sub(r"(typedef\s+)?" + enum + r".*?\}\s*\w*\s*;", " ", text, flags=re.S)
        # Structs with a body: `[typedef] struct name { fields } [name];`
        for match in re.finditer(
            r"(?:typedef\s+)?struct\s+(\w+)\s*\{(.*?)\}\s*(\w*)\s*;", text, flags=re.S
        ):
            fields = [parse_declaration(f) for f in match.group(2).split(";") if f.strip()]
            self.structs[match.group(1)] = [(n, t) for t, n in fields]
        text = re.sub(r"(?:typedef\s+)?struct\s+\w+\s*\{.*?\}\s*\w*\s*;", " ", text, flags=re.S)
        # Plain typedefs (`typedef struct x x;` names an opaque type).
        for target, name in re.findall(r"typedef\s+([^;{}()]+?)\s+(\w+)\s*;", text):
            target = normalize_type(target)
            if target != name:
                self.typedefs[name] = target
        text = re.sub(r"typedef\s+[^;{}()]+;", " ", text)
        self.functions: Dict[str, Function] = {}
        for ret, name, params in re.findall(
            r"([A-Za-z_][\w \t\n\*]*?[\s\*])(ttlkv_\w+)\s*\(([^()]*)\)\s*;", text
        ):
            ret = normalize_type(ret)
            args = [] if params.strip() in ("", "void") else [
                parse_declaration(p)[::-1] for p in params.split(",")
            ]
            self.functions[name] = (ret, [(n, t) for n, t in args])

    def resolve(self, ctype: str) -> str:
        """The type with the header's typedefs of integers applied (ttlkv_status -> uint32_t)."""
        base = ctype.rstrip(" *")
        stars = ctype[len(base):].replace(" ", "")
        const = ""
        if base.startswith("const "):
            const, base = "const ", base[len("const "):]
        seen = 0
        while base in self.typedefs and seen < 10:
            base = self.typedefs[base]
            seen += 1
        return normalize_type(const + base + (" " + stars if stars else ""))


def normalize_type(ctype: str) -> str:
    """`const struct ttlkv_options*` -> `const ttlkv_options *`."""
    ctype = re.sub(r"\b(struct|enum)\s+", "", ctype)
    stars = ctype.count("*")
    words = ctype.replace("*", " ").split()
    return " ".join(words) + (" " + "*" * stars if stars else "")


def parse_declaration(declaration: str) -> Tuple[str, str]:
    """`const uint8_t *key` -> (`const uint8_t *`, `key`)."""
    declaration = declaration.strip()
    match = re.match(r"^(.*?)(\w+)\s*$", declaration, flags=re.S)
    assert match, declaration
    return normalize_type(match.group(1)), match.group(2)


def c_integer(expression: str, known: Dict[str, int]) -> int:
    """Evaluates the integer expressions a cbindgen header uses for constants."""
    expr = expression.strip()
    expr = re.sub(r"\(\s*(?:u?int\d+_t|size_t|unsigned|int|long)\s*\)", "", expr)  # casts
    expr = re.sub(r"\b(?:U?INT\d+_C)\s*\(([^)]*)\)", r"\1", expr)
    limits = {"UINT64_MAX": 2**64 - 1, "UINT32_MAX": 2**32 - 1, "SIZE_MAX": 2**64 - 1}
    for name, value in {**limits, **known}.items():
        expr = re.sub(rf"\b{name}\b", str(value), expr)
    expr = re.sub(r"(?<=[0-9a-fA-F])(?:[uU][lL]{0,2}|[lL]{1,2}[uU]?)\b", "", expr)
    if not re.fullmatch(r"[0-9a-fA-FxX\s()+\-*/<>|&~]*", expr):
        raise ValueError(f"not an integer constant: {expression!r}")
    return int(eval(expr, {"__builtins__": {}}))  # noqa: S307 - digits and operators only


@pytest.fixture(scope="module")
def header() -> Header:
    assert HEADER.is_file(), f"the header {HEADER} is missing: the declarations cannot be checked"
    return Header(HEADER.read_text())


def test_parser_found_the_header_contents(header: Header) -> None:
    assert len(header.functions) >= 20
    assert "ttlkv_buf" in header.structs and "ttlkv_record" in header.structs
    assert header.constants.get("TTLKV_OK") == 0


def test_every_function_is_declared_and_nothing_else(header: Header) -> None:
    assert sorted(header.functions) == sorted(_ffi.FUNCTIONS)


def test_function_signatures_match(header: Header) -> None:
    for name, (ret, params) in _ffi.FUNCTIONS.items():
        h_ret, h_params = header.functions[name]
        assert header.resolve(ret) == header.resolve(h_ret), f"{name}: return type"
        assert [p for p, _ in params] == [p for p, _ in h_params], f"{name}: parameter names"
        ours = [header.resolve(t) for _, t in params]
        theirs = [header.resolve(t) for _, t in h_params]
        assert ours == theirs, f"{name}: parameter types"


def test_declared_ctypes_follow_the_tables() -> None:
    for name, (ret, params) in _ffi.FUNCTIONS.items():
        function = getattr(_ffi.lib, name)
        assert function.restype == _ffi.CTYPES[ret], name
        assert function.argtypes == [_ffi.CTYPES[t] for _, t in params], name


def test_fast_functions_are_header_functions_returning_a_status(header: Header) -> None:
    for name in _ffi.FAST_FUNCTIONS:
        assert name in header.functions
        assert header.resolve(header.functions[name][0]) == "uint32_t"
        function = getattr(_ffi.fast, name)
        assert function.restype is ctypes.c_uint32 and function.argtypes is None
        assert ctypes.cast(function, ctypes.c_void_p).value == ctypes.cast(
            getattr(_ffi.lib, name), ctypes.c_void_p
        ).value


def test_structs_match(header: Header) -> None:
    assert sorted(_ffi.STRUCTS) == sorted(header.structs)
    for name, fields in _ffi.STRUCTS.items():
        ours = [(n, header.resolve(t)) for n, t in fields]
        theirs = [(n, header.resolve(t)) for n, t in header.structs[name]]
        assert ours == theirs, name


def test_every_opaque_type_is_known(header: Header) -> None:
    opaque = {n for n, t in header.typedefs.items() if t == n} | {
        n for n in ("ttlkv_store", "ttlkv_options", "ttlkv_key_list") if n in header.raw
    }
    for name in opaque:
        assert hasattr(_ffi, name), name


def test_constants_and_status_codes_match(header: Header) -> None:
    ours = {**_ffi.STATUS, **_ffi.CONSTANTS}
    theirs = {n: v for n, v in header.constants.items() if n.startswith("TTLKV_")}
    assert ours == theirs


def test_abi_version_of_header_package_and_library(header: Header) -> None:
    assert header.constants["TTLKV_ABI_VERSION"] == ttlkv.ABI_VERSION
    assert _ffi.lib.ttlkv_abi_version() == ttlkv.ABI_VERSION


def test_library_version_number_is_the_headers(header: Header) -> None:
    assert _ffi.lib.ttlkv_version_number() == c_integer(header.macros["TTLKV_VERSION_NUMBER"], {})


def test_every_status_has_library_text() -> None:
    for name, code in _ffi.STATUS.items():
        text = _ffi.decode(_ffi.lib.ttlkv_status_str(code))
        assert text and text != "unknown status", name
    assert _ffi.decode(_ffi.lib.ttlkv_status_str(65535))


def test_the_c_compiler_agrees_on_sizes_offsets_and_values(tmp_path: Path) -> None:
    """Compiles a program against the header: what C sees is what ctypes uses."""
    cc = shutil.which("cc") or shutil.which("gcc")
    assert cc, "a C compiler is needed to check the header"
    assert HEADER.is_file(), f"the header {HEADER} is missing"
    lines = ["#include <stdio.h>", "#include <stddef.h>", f'#include "{HEADER}"', "int main(void) {"]
    lines.append('printf("{");')
    checks: List[str] = []
    for name in {**_ffi.STATUS, **_ffi.CONSTANTS}:
        checks.append(f'printf("\\"{name}\\": %llu", (unsigned long long)({name}));')
    for struct, fields in _ffi.STRUCTS.items():
        checks.append(f'printf("\\"sizeof {struct}\\": %zu", sizeof({struct}));')
        for field, _ in fields:
            checks.append(
                f'printf("\\"offsetof {struct}.{field}\\": %zu", offsetof({struct}, {field}));'
            )
    for ctype in _ffi.CTYPES:
        if ctype != "void":
            checks.append(f'printf("\\"sizeof {ctype}\\": %zu", sizeof({ctype}));')
    lines.append('printf(", ");'.join(checks))
    lines += ['printf("}\\n");', "return 0; }"]
    source = tmp_path / "check.c"
    source.write_text("\n".join(lines))
    binary = tmp_path / "check"
    subprocess.run(
        [cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-o", str(binary), str(source)],
        check=True,
    )
    seen = json.loads(subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout)
    for name, value in {**_ffi.STATUS, **_ffi.CONSTANTS}.items():
        assert seen[name] == value, name
    for struct, fields in _ffi.STRUCTS.items():
        ctype = getattr(_ffi, struct)
        assert seen[f"sizeof {struct}"] == ctypes.sizeof(ctype), struct
        for field, _ in fields:
            assert seen[f"offsetof {struct}.{field}"] == getattr(ctype, field).offset, field
    for name, ctype in _ffi.CTYPES.items():
        if ctype is not None:
            assert seen[f"sizeof {name}"] == ctypes.sizeof(ctype), name
