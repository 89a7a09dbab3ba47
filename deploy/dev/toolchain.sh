#!/usr/bin/env bash
# Makes sure the Rust toolchain has rustfmt and clippy (a fresh rustup
# install may have neither).
set -euo pipefail
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  command -v rustup >/dev/null || { echo "install rustfmt and clippy for your Rust toolchain" >&2; exit 1; }
  rustup component add rustfmt clippy
fi
