#!/usr/bin/env bash
# Builds the book (docs/) into target/book with the pinned mdBook, installing
# it when missing (`just docs`).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools.sh
. "$root/scripts/tools.sh"
ensure_mdbook
mdbook build "$root/docs"
