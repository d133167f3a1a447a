"""The library's layering, read from the sources (no imports run): no library module imports an
entry point (rc_darts_tf/cli/ holds the command-line front ends; flags/ defines their flags).
That the search space imports no TensorFlow is tests/test_search_space.py's."""

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _is_front_end(module):
  parts = module.split(".")
  return parts[0] == "flags" or parts[:2] == ["rc_darts_tf", "cli"]


def _imports(path):
  """Absolute module names imported by the file at `path` (relative imports resolved)."""
  tree = ast.parse(open(path, encoding="utf-8").read(), path)
  package = os.path.relpath(os.path.dirname(path), ROOT).replace(os.sep, ".")
  names = []
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      names += [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] +
                        ([base] if base else []))
      names += [base] + [f"{base}.{alias.name}" for alias in node.names]
  return names


def _library_modules():
  for package in ("rc_darts_tf", "exporters"):
    for folder, _, files in os.walk(os.path.join(ROOT, package)):
      for name in files:
        if name.endswith(".py"):
          path = os.path.join(folder, name)
          module = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
          if not _is_front_end(module):
            yield module, path


def test_no_library_module_imports_an_entry_point():
  offenders = {module: [name for name in _imports(path)
                        if name.split(".")[0] in ("rc_darts_tf", "exporters", "flags")
                        and _is_front_end(name)]
               for module, path in _library_modules()}
  offenders = {module: names for module, names in offenders.items() if names}
  assert not offenders, offenders
  assert len(list(_library_modules())) > 20        # the scan saw the library


def test_front_end_detection_sees_entry_point_imports(tmp_path):
  # the scanner itself: an import of an entry point is found in each spelling
  path = tmp_path / "m.py"
  path.write_text("import rc_darts_tf.cli.search\nfrom flags import search\n"
                  "from rc_darts_tf import cli\n")
  found = [n for n in _imports(str(path)) if _is_front_end(n)]
  assert {"rc_darts_tf.cli.search", "flags", "rc_darts_tf.cli"} <= set(found), found

