#!/usr/bin/env bash
# What the tests run besides the project's own binaries, installed when
# missing (`just test` calls this first).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools.sh
. "$root/scripts/tools.sh"
# The suite's runner: one process per test (.config/nextest.toml).
ensure_nextest
# tests/integration/provenance.rs: keys and signatures made by openssl.
ensure_debian_command openssl openssl
# tests/integration/admin.rs: Prometheus's own linter on a real scrape.
ensure_debian_command promtool prometheus
# tests/integration/scale_out.rs: a real TCP load balancer in front of two servers.
ensure_debian_command haproxy haproxy
# tests/integration/deploy.rs: systemd checks the example units.
ensure_debian_command systemd-analyze systemd
# tests/integration/deploy.rs: PyYAML reads the Kubernetes manifest.
python3 -c 'import yaml' 2>/dev/null || pip_install_pinned pyyaml
# tests/integration/state.rs: the fleet's state store, a real Redis.
ensure_debian_command redis-server redis-server
# tests/integration/registry.rs: a real OCI registry (the CNCF
# distribution registry), and htpasswd for its basic auth.
ensure_debian_command docker-registry docker-registry
ensure_debian_command htpasswd apache2-utils
