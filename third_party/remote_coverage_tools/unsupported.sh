#!/bin/sh
echo "bazel coverage is not available offline; use gcov/lcov from Debian" >&2
exit 1
