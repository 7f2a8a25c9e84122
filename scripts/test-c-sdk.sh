#!/usr/bin/env bash
# The C SDK's unit tests, natively: each plugin's own sources, the SDK and
# the bindings compiled for this machine with the fake host of
# plugins/c/sdk/testing/yell_test_host.c (no wasm build), then run.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sdk="$root/plugins/c/sdk"
out="$root/target/c-native"
mkdir -p "$out"
cc=${CC:-cc}
# The bindings' wasm import/export attributes mean nothing natively, and
# gcc misreads one of their switches as leaving a value uninitialized.
# The bindings declare every import of the stateful world; those the
# plugin never calls are left out of the link (--gc-sections), so the fake
# host defines only what is used.
flags=(-std=c11 -O1 -g -Wall -Wextra -Werror -Wno-attributes -Wno-maybe-uninitialized -D_GNU_SOURCE
    -ffunction-sections -fdata-sections -Wl,--gc-sections
    -I "$sdk" -I "$sdk/bindings" -I "$sdk/testing")
common=("$sdk/yell_plugin.c" "$sdk/bindings/plugin.c" "$sdk/testing/yell_test_host.c" "$sdk/testing/test_sdk.c")
"$cc" "${flags[@]}" "$root/plugins/c/testing/features/features.c" "${common[@]}" -o "$out/test-features"
"$cc" "${flags[@]}" -DYELL_TEST_UPPERCASE "$root/plugins/c/uppercase/uppercase.c" "${common[@]}" -o "$out/test-uppercase"
"$cc" "${flags[@]}" -DYELL_TEST_TALLY "$root/plugins/c/testing/tally/tally.c" "${common[@]}" -o "$out/test-tally"
"$out/test-features"
"$out/test-uppercase"
"$out/test-tally"
