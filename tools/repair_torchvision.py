"""Repair a CPU-only environment where PyPI's CUDA build of torchvision cannot be imported.

PyPI's torchvision wheel is built for CUDA. Next to a CPU-only torch its compiled ops do not
load, and ``import torchvision`` then fails with "operator torchvision::nms does not exist"
because ``torchvision/_meta_registrations.py`` registers fake kernels for those ops
unconditionally. vLLM's LLaVA-NeXT path only needs torchvision's Python transforms, so we make
those registrations conditional on ``torchvision.extension._has_ops()``.

torchaudio and torchcodec from PyPI fail to load in the same way and are not needed; when they
are installed and cannot be imported they are uninstalled (pass --keep-extras to skip that).

The script is idempotent and does nothing when ``import torchvision`` already works. It acts on
the interpreter that runs it: ``.venv/bin/python tools/repair_torchvision.py``.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

MARKER = "# vlmrate: register fakes only when the compiled ops loaded"
HELPER = f"""

{MARKER}
def _vlmrate_register_fake(name):
    def wrapper(fn):
        if torchvision.extension._has_ops():
            return torch.library.register_fake(name)(fn)
        return fn

    return wrapper
"""
DECORATOR = re.compile(r'^@torch\.library\.register_fake\((["\']torchvision::)', re.MULTILINE)
ANCHOR = "import torchvision.extension  # noqa: F401\n"


def _imports(module: str) -> bool:
    """True when ``import module`` succeeds in a fresh interpreter."""
    proc = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.returncode == 0


def patch_source(text: str) -> str:
    """Return the patched text of torchvision/_meta_registrations.py (unchanged if patched)."""
    if MARKER in text:
        return text
    if ANCHOR not in text:
        raise RuntimeError("unexpected torchvision/_meta_registrations.py layout; not patching")
    text = text.replace(ANCHOR, ANCHOR + HELPER, 1)
    return DECORATOR.sub(r"@_vlmrate_register_fake(\1", text)


def repair_torchvision() -> str:
    if importlib.util.find_spec("torchvision") is None:
        return "torchvision is not installed; nothing to do"
    if _imports("torchvision"):
        return "torchvision imports fine; nothing to do"
    spec = importlib.util.find_spec("torchvision")
    assert spec is not None and spec.origin is not None
    path = Path(spec.origin).parent / "_meta_registrations.py"
    old = path.read_text(encoding="utf-8")
    new = patch_source(old)
    if new != old:
        path.write_text(new, encoding="utf-8")
        for cached in (path.parent / "__pycache__").glob("_meta_registrations.*.pyc"):
            cached.unlink(missing_ok=True)
    if not _imports("torchvision.transforms"):
        raise SystemExit(f"patched {path} but `import torchvision` still fails")
    return f"patched {path}; torchvision imports now"


def _uninstall(name: str) -> bool:
    """Uninstall ``name`` from this interpreter's environment with pip, or uv if no pip."""
    commands = [[sys.executable, "-m", "pip", "uninstall", "-y", "-q", name]]
    uv = shutil.which("uv")
    if uv is not None:
        commands.append([uv, "pip", "uninstall", "--python", sys.executable, name])
    for command in commands:
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        if proc.returncode == 0:
            return True
    return False


def remove_broken_extras() -> list[str]:
    removed = []
    for name in ("torchaudio", "torchcodec"):
        if importlib.util.find_spec(name) is not None and not _imports(name):
            if _uninstall(name):
                removed.append(name)
            else:
                print(f"warning: {name} cannot be imported and could not be uninstalled")
    return removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--keep-extras", action="store_true", help="do not uninstall broken torchaudio/torchcodec"
    )
    args = parser.parse_args(argv)
    print(repair_torchvision())
    if not args.keep_extras:
        for name in remove_broken_extras():
            print(f"uninstalled {name} (it cannot be imported and vlmrate does not need it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
