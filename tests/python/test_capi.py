"""The ctypes table against the header: every MIRD_API function of mird.h is
declared once, with the C types the header gives, and nothing else is."""

import ctypes
import re
import unittest

from mird import _capi
from binding_support import HEADER

_BASE_TYPES = {
    "void": None, "float": ctypes.c_float, "double": ctypes.c_double, "int": ctypes.c_int,
    "unsigned": ctypes.c_uint, "long long": ctypes.c_longlong, "int32_t": ctypes.c_int32,
    "int64_t": ctypes.c_int64, "uint64_t": ctypes.c_uint64, "uint8_t": ctypes.c_uint8,
    "size_t": ctypes.c_size_t, "char": ctypes.c_char,
    "mird_log_fn": _capi.mird_log_fn, "mird_progress_fn": _capi.mird_progress_fn,
}
_ENUMS = ("mird_status", "mird_param", "mird_split", "mird_metric", "mird_term", "mird_event",
          "mird_stop", "mird_ownership", "mird_log_level")
_HANDLES = ("mird_config", "mird_model", "mird_optimizer", "mird_batch", "mird_dataset",
            "mird_progress", "mird_report")


def ctype_of(declaration):
    """The ctypes type of a C type (or parameter declaration with its name)."""
    text = re.sub(r"\bconst\b", " ", declaration)
    stars = text.count("*")
    words = text.replace("*", " ").split()
    # A parameter name follows its type ("int64_t size"); a bare type has none.
    if len(words) > 1 and words[-1] not in ("long", "unsigned"):
        words = words[:-1]
    base = " ".join(words)
    if base in _ENUMS:
        kind = ctypes.c_int
    elif base in _HANDLES:
        kind = getattr(_capi, base)
    else:
        kind = _BASE_TYPES[base]
    if kind is ctypes.c_char and stars >= 1 and "const" in declaration.split("*")[0]:
        kind, stars = ctypes.c_char_p, stars - 1   # const char *: text
    for _ in range(stars):
        kind = ctypes.POINTER(kind)
    return kind


def header_prototypes():
    """{name: (restype, (argtypes...))} of every MIRD_API function in mird.h."""
    with open(HEADER) as header:
        text = re.sub(r"/\*.*?\*/", " ", header.read(), flags=re.S)
    prototypes = {}
    for match in re.finditer(r"^MIRD_API\s+([^;(]*?)\b(mird_\w+)\s*\(([^)]*)\)\s*;", text,
                             flags=re.M):
        result, name, parameters = match.groups()
        parameters = " ".join(parameters.split())
        argtypes = () if parameters == "void" else tuple(
            ctype_of(p) for p in parameters.split(","))
        if name in prototypes:
            raise AssertionError("%s is declared twice in mird.h" % name)
        prototypes[name] = (ctype_of(result), argtypes)
    return prototypes


class CapiTableTest(unittest.TestCase):
    def test_header_parse_finds_the_api(self):
        prototypes = header_prototypes()
        # A parser that silently found nothing would make the checks below vacuous.
        self.assertGreater(len(prototypes), 80)
        self.assertEqual(prototypes["mird_step"][1][4], ctypes.c_size_t)
        self.assertEqual(prototypes["mird_config_set"][1], (
            ctypes.POINTER(_capi.mird_config), ctypes.c_char_p, ctypes.c_char_p))

    def test_table_names_every_function_once_and_nothing_else(self):
        names = [name for name, _, _ in _capi.PROTOTYPES]
        self.assertEqual(len(names), len(set(names)), "a function is declared twice")
        header = set(header_prototypes())
        self.assertEqual(sorted(header - set(names)), [], "in mird.h, missing from the table")
        self.assertEqual(sorted(set(names) - header), [], "in the table, not in mird.h")

    def test_table_types_match_the_header(self):
        header = header_prototypes()
        for name, restype, argtypes in _capi.PROTOTYPES:
            with self.subTest(function=name):
                self.assertEqual((restype, tuple(argtypes)), header[name])

    def test_loaded_library_exports_every_function(self):
        library = _capi.lib()
        for name, restype, argtypes in _capi.PROTOTYPES:
            function = getattr(library, name)
            self.assertEqual(function.argtypes, argtypes, name)
            self.assertIs(function.restype, restype, name)


if __name__ == "__main__":
    unittest.main()
