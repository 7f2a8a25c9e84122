#!/usr/bin/env bash
# Copies the plugins `just build-plugins` built (target/plugins/*.wasm, not
# the tests' own) into the data folder an installed yell-host looks bare
# plugin names up in: $XDG_DATA_HOME/yell-host/plugins, else
# ~/.local/share/yell-host/plugins. The Python and JavaScript components
# are too big to embed in the binary; the Rust ones are embedded too.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
case "${XDG_DATA_HOME:-}" in
    /*) data="$XDG_DATA_HOME/yell-host/plugins" ;;
    *) data="$HOME/.local/share/yell-host/plugins" ;;
esac
mkdir -p "$data"
count=0
for plugin in "$root"/target/plugins/*.wasm; do
    [ -f "$plugin" ] || continue
    # Beside, then renamed: a server watching the folder never loads half a file.
    cp "$plugin" "$data/.$(basename "$plugin").new"
    mv "$data/.$(basename "$plugin").new" "$data/$(basename "$plugin")"
    count=$((count + 1))
done
echo "install-plugins: $count plugins in $data"
