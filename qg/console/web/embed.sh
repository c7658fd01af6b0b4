#!/bin/sh
# Compiles the console's web files into C++ (//qg/console:web_assets_cc):
#   embed.sh OUT FILE...
# Each FILE becomes one entry of qg::console::kWebAssets: its name (the
# basename), its Content-Type (by extension) and its bytes as a raw string.
set -eu
out=$1
shift
{
  echo "// Generated from qg/console/web/* by //qg/console:web_assets_cc."
  echo "#include \"qg/console/web_assets.h\""
  echo "namespace qg::console {"
  echo "const WebAsset kWebAssets[] = {"
  for f in "$@"; do
    name=$(basename "$f")
    case "$name" in
      *.html) type="text/html; charset=utf-8" ;;
      *.js) type="text/javascript; charset=utf-8" ;;
      *.css) type="text/css; charset=utf-8" ;;
      *.svg) type="image/svg+xml" ;;
      *) type="application/octet-stream" ;;
    esac
    if grep -q ')qgweb"' "$f"; then
      echo "embed.sh: $f contains the raw-string delimiter" >&2
      exit 1
    fi
    printf '    {"%s", "%s", R"qgweb(' "$name" "$type"
    cat "$f"
    printf ')qgweb"},\n'
  done
  echo "    {nullptr, nullptr, nullptr},"
  echo "};"
  echo "}  // namespace qg::console"
} > "$out"
