"""Names the library gives its enumerations, and the text forms of arguments.

The names come from the loaded library (mird_term_name, mird_metric_name,
...), so a library that appends a term or metric is read in full without a
change here.
"""

import functools
import numbers
import os

from . import _capi

#: mird_event values, by index.
EVENTS = ("step", "epoch")
#: mird_stop values, by index.
STOPS = ("epochs", "patience", "cancelled")


@functools.lru_cache(maxsize=None)
def _enumerate(function_name):
    function = getattr(_capi.lib(), function_name)
    names = []
    while True:
        name = function(len(names))
        if name is None:
            return tuple(names)
        names.append(name.decode())


def term_names():
    """The training terms a step reports ("total", "task", ...), by mird_term."""
    return _enumerate("mird_term_name")


def metric_names():
    """The metrics ("mae", "corr", ...), by mird_metric."""
    return _enumerate("mird_metric_name")


def param_names():
    """Every setting's name ("text_mode", ...), by mird_param."""
    return _enumerate("mird_param_name")


def split_names():
    """The splits ("train", "valid", "test"), by mird_split."""
    return _enumerate("mird_split_name")


def index_of(value, names, what):
    """The enum value of a name (or an int passed through)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    try:
        return names.index(value)
    except ValueError:
        raise ValueError("unknown %s %r (%s)" % (what, value, ", ".join(names))) from None


def setting_text(value):
    """A setting's value as mird_config_set reads it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))
    if isinstance(value, str):
        return value
    raise TypeError("a setting's value must be a number, bool or str, not %s"
                    % type(value).__name__)


def parse_setting(text):
    """The Python value of mird_config_get_text's text: a choice's name as
    str, a number as int when it is integral (counts, and reals such as
    lambda = 1), else float."""
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() else value


def options_text(options):
    """An options argument (None, "k=v,..." or a mapping) as C text or None."""
    if options is None:
        return None
    if isinstance(options, str):
        return options.encode()
    return ",".join("%s=%s" % (key, setting_text(value))
                    for key, value in options.items()).encode()


def path_bytes(path):
    """A path argument as bytes, as the file system spells it."""
    return None if path is None else os.fsencode(path)
