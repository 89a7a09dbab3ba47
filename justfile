# nasvyazi — the project's commands. `just` lists them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Find or install and start PostgreSQL and NATS (JetStream); writes .data/env.
prepare:
    bash deploy/dev/prepare.sh

# Run the whole system locally with demo settings and print where to look.
demo: prepare
    bash deploy/dev/demo.sh

# The whole test suite against real PostgreSQL and NATS, then fmt and clippy.
test: prepare
    bash deploy/dev/toolchain.sh
    . .data/env && if cargo nextest --version >/dev/null 2>&1; then \
        cargo nextest run --workspace --no-fail-fast; \
      else \
        cargo test --workspace --no-fail-fast; \
      fi
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# The chaos tests (tests/it/chaos) at full size: real processes, a private
# three-node NATS cluster and PostgreSQL, kills and restarts.
chaos: prepare
    cargo build -p nasvyazi-cli --bin nasvyazi
    . .data/env && NASVYAZI_CHAOS_FULL=1 cargo nextest run -p nasvyazi-tests \
        --no-fail-fast --test-threads 1 --success-output final -E 'test(/chaos::/)'

# Run all services in one process with your configuration (NASVYAZI_CONFIG or env).
up:
    cargo run --release -p nasvyazi-cli -- up

# Format the code.
fmt:
    cargo fmt --all

# Lint as CI does.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# The front's OpenAPI document, to stdout (diff it across commits).
openapi:
    cargo run -q -p nasvyazi-front --example openapi

# Benchmarks against references measured in the same run; writes
# target/bench/results.json. Sections: smtp scheduler fanout front telegram push;
# e.g. `just bench smtp`.
bench *sections: prepare
    bash deploy/dev/bench-tools.sh
    cargo build --release -p nasvyazi-cli -p nasvyazi-tests --bin nasvyazi --bin nasvyazi-bench
    . .data/env && ./target/release/nasvyazi-bench {{sections}}
