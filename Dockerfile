# syntax=docker/dockerfile:1
# The kube-devops controller image: a release build on a pinned Rust
# toolchain, copied onto a distroless runtime that holds CA certificates and nothing else
# (no shell, no package manager), run as the numeric non-root user 65532.

FROM rust:1.89.0-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p kube-devops-actors --bin kube-devops \
    && install -m 0755 target/release/kube-devops /kube-devops

# glibc, libgcc and CA certificates; the nonroot tag runs as 65532:65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /kube-devops /kube-devops
USER 65532:65532
EXPOSE 8080 8443
ENTRYPOINT ["/kube-devops"]
CMD ["run"]
