"""BUILD and pyproject.toml cover the code: every module is in a py_library, every entry point has a
py_binary and a console script, every test file has a py_test, and every repository file a test
opens by path (`os.path.join(REPO, ...)`, outside the libraries it depends on) is in its data:
Bazel's sandbox holds nothing else."""

import glob as globlib
import os
import re

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("rc_darts_tf", "exporters", "flags")
CLI_DIR = "rc_darts_tf/cli"     # the entry points: rc_darts_tf/cli/<tool>.py, console script rc-darts-<tool>


def is_entry_point(path):
  """Whether `path` (repo-relative) is an entry point: a module of rc_darts_tf/cli/ but its
  __init__.py (the shared absl plumbing)."""
  return (os.path.dirname(path) == CLI_DIR and path.endswith(".py")
          and os.path.basename(path) != "__init__.py")


def read_build(text):
  """Evaluate a BUILD file (Starlark is Python for these calls); returns the rule calls."""
  rules = []

  def rule(kind):
    def record(**kwargs):
      rules.append((kind, kwargs))
    return record

  def glob(include, exclude=()):
    found = set()
    for pattern in include:
      found.update(os.path.relpath(p, REPO) for p in globlib.glob(os.path.join(REPO, pattern),
                                                                  recursive=True))
    return sorted(found)

  env = {name: rule(name) for name in ("py_library", "py_binary", "py_test", "filegroup")}
  env.update(glob=glob, package=lambda **kwargs: None, load=lambda *args: None)
  exec(compile(text, "BUILD", "exec"), env)  # noqa: S102 - our own BUILD file
  return rules


_REPO_PATH = re.compile(r'os\.path\.join\(REPO((?:,\s*"[^"]+")+)\)')


def repo_files_opened(path):
  """Repository files a test file names with os.path.join(REPO, "a", "b", ...)."""
  if not os.path.isfile(os.path.join(REPO, path)):
    return []
  with open(os.path.join(REPO, path)) as f:
    text = f.read()
  opened = set()
  for parts in _REPO_PATH.findall(text):
    relative = "/".join(re.findall(r'"([^"]+)"', parts))
    if os.path.isfile(os.path.join(REPO, relative)) and relative.split("/")[0] not in PACKAGES:
      opened.add(relative)
  return sorted(opened)


def problems(rules, files):
  """What the BUILD rules miss among `files` (repo-relative paths); [] when complete."""
  missing = []
  lib_srcs = {src for kind, r in rules if kind == "py_library" for src in r.get("srcs", [])}
  binaries = {r.get("main") for kind, r in rules if kind == "py_binary"}
  test_srcs = {src for kind, r in rules if kind == "py_test" for src in r.get("srcs", [])}
  test_args = {arg for kind, r in rules if kind == "py_test" for arg in r.get("args", [])}
  lib_names = {r["name"] for kind, r in rules if kind == "py_library"}
  for package in PACKAGES:
    if package not in lib_names:
      missing.append(f"py_library {package}")
  for path in files:
    top, name = path.split("/")[0], os.path.basename(path)
    if top in PACKAGES and path not in lib_srcs:
      missing.append(f"{path} in a py_library")
    if is_entry_point(path) and path not in binaries:
      missing.append(f"py_binary for {path}")
    if top in ("benchmarks", "scripts") and name != "__init__.py" and path not in binaries:
      missing.append(f"py_binary for {path}")
    if top == "tests" and name.startswith("test_") and not (path in test_srcs and
                                                             path in test_args):
      missing.append(f"py_test for {path}")
    if top == "tests" and name.startswith("test_"):
      shipped = {f for kind, r in rules if kind == "py_test" and path in r.get("srcs", [])
                 for f in list(r.get("data", [])) + list(r.get("srcs", []))}
      missing += [f"{opened} in the data of the py_test for {path}"
                  for opened in repo_files_opened(path) if opened not in shipped]
  return missing


def project_files():
  files = []
  for top in PACKAGES + ("tests", "benchmarks", "scripts"):
    for path in globlib.glob(os.path.join(REPO, top, "**", "*.py"), recursive=True):
      files.append(os.path.relpath(path, REPO).replace(os.sep, "/"))
  return sorted(files)


def test_build_lists_every_module_entry_point_and_test():
  with open(os.path.join(REPO, "BUILD")) as f:
    rules = read_build(f.read())
  assert problems(rules, project_files()) == []


def test_the_check_notices_what_is_missing():
  with open(os.path.join(REPO, "BUILD")) as f:
    text = f.read()
  files = project_files() + ["rc_darts_tf/new_module.py", "rc_darts_tf/cli/new.py",
                             "tests/test_new.py"]
  found = problems(read_build(text), files)
  assert "rc_darts_tf/new_module.py in a py_library" in found
  assert "py_binary for rc_darts_tf/cli/new.py" in found
  assert "py_test for tests/test_new.py" in found
  without_budget = text.replace('"rc_darts_tf/budget.py",\n', "")
  assert "rc_darts_tf/budget.py in a py_library" in problems(read_build(without_budget),
                                                             project_files())
  example = '"examples/classify_jpeg.py"'
  assert example in text
  without_example = text.replace(f"{example}, ", "").replace(f"data = [{example}],", "")
  assert ("examples/classify_jpeg.py in the data of the py_test for tests/cli/test_export.py" in
          problems(read_build(without_example), project_files()))


def console_scripts():
  with open(os.path.join(REPO, "pyproject.toml")) as f:
    text = f.read()
  section = text.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
  return dict(re.findall(r'^([\w-]+)\s*=\s*"([\w.:]+)"', section, flags=re.M))


def test_every_entry_point_has_a_console_script():
  scripts = console_scripts()
  for path in project_files():
    name = os.path.basename(path)
    if is_entry_point(path):
      module = path[:-3].replace("/", ".")
      command = "rc-darts-" + name[:-len(".py")]
      assert scripts.get(command) == f"{module}:run", (command, scripts)
  for command, target in scripts.items():
    module, function = target.split(":")
    source = os.path.join(REPO, *module.split(".")) + ".py"
    with open(source) as f:
      assert f"def {function}(" in f.read(), target
