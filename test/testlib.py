"""Helpers shared by the Python test scripts (standard library only)."""
import json
import subprocess


def sanitized(build):
    """True when the meson build directory `build` has -Db_sanitize set."""
    try:
        p = subprocess.run(["meson", "introspect", "--buildoptions", build], capture_output=True, text=True)
        opts = json.loads(p.stdout)
    except (OSError, ValueError):
        return False
    return any(o.get("name") == "b_sanitize" and o.get("value") not in ("none", "", None) for o in opts)
