# syntax=docker/dockerfile:1
# The run-time guard (`budget guard`) as a container image; usage in docs/guard-container.md.
#
#   docker build -t budget-guard .
#
# Two stages: the build on the Rust image the crate's MSRV names, the run on distroless/cc (glibc
# and CA certificates, no shell, no package manager), as the distroless non-root user.

FROM rust:1.89-slim-bookworm AS build
WORKDIR /src
# The whole context (.dockerignore leaves target/ and .git out): Cargo.toml names the benches and
# tests, so cargo wants them present even for `--bin budget`.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin budget \
    && install -D -m 0755 target/release/budget /out/budget \
    && mkdir -p /out/data

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/budget /usr/local/bin/budget
# Where a call journal (--journal /data/calls.jsonl) can go: a volume mounted here starts
# owned by the non-root user.
COPY --from=build --chown=65532:65532 /out/data /data
WORKDIR /data
USER 65532:65532
EXPOSE 8787
# `docker stop` sends SIGTERM: the guard finishes the calls in flight and prints its summary.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/budget", "guard"]
# Reachable from outside the container, so a client token is required: the guard refuses a
# non-loopback --listen without --client-token-file, and refuses to start when the file is
# missing. Arguments given to `docker run` replace these: repeat both (docs/guard-container.md).
CMD ["--listen", "0.0.0.0:8787", "--client-token-file", "/run/secrets/budget-client-token"]
