#!/usr/bin/env bash
# transformers' own common model tests (tests/test_modeling_common.py, ...) for tests/interop/test_hf_common.py: they ship in
# transformers' source distribution, not in its wheel. Unpacks the sdist of the installed version into
# .cache/hf-sdist/ (once) and prints the folder for TRANSFORMERS_TESTS_DIR. Prints nothing when it cannot be had (no
# package index reachable): the common tests then skip, saying what they need.
set -uo pipefail
cd "$(dirname "$0")/.."
version=$(.venv/bin/python -c "import transformers; print(transformers.__version__)") || exit 0
dest=.cache/hf-sdist
if [ ! -f "$dest/transformers-$version/tests/test_modeling_common.py" ]; then
  mkdir -p "$dest"
  .venv/bin/python -m pip download --quiet --no-deps --no-binary :all: "transformers==$version" -d "$dest" \
    >/dev/null 2>&1 && tar -xzf "$dest/transformers-$version.tar.gz" -C "$dest" 2>/dev/null || exit 0
fi
[ -f "$dest/transformers-$version/tests/test_modeling_common.py" ] && echo "$PWD/$dest/transformers-$version"
exit 0
