"""Runs the test files given as arguments under pytest (one session, so they share session
fixtures); the `main` of every py_test in BUILD (`bazel test //...`)."""

import os
import sys

import pytest

if __name__ == "__main__":
  os.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", *sys.argv[1:]]))
