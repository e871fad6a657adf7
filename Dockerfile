# logship container image: one static binary, CA certificates, nothing else.
# No shell, no package manager, no libc; runs as 65532:65532 by default.
#
#   buildah bud --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg COMMIT=$(git rev-parse HEAD) -t localhost/logship:dev .
#
# (or docker build with the same arguments). Machines that cannot pull
# golang:1.26 build the same image from the local toolchain: `make image`.

FROM docker.io/library/golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commitHash=${COMMIT}" \
      -o /rootfs/logship ./cmd/agent
# The final image's whole file system, with exact owners and modes (COPY
# --from keeps them): root's and read-only to others, except the checkpoint
# directory (agent.data_dir), which belongs to the image's user. Kubernetes
# mounts a hostPath over it so checkpoints outlive the pod.
RUN install -D -m 0644 /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ca-certificates.crt \
 && install -d -m 0755 /rootfs/etc/logship \
 && install -d -m 0700 -o 65532 -g 65532 /rootfs/var/lib/logship

FROM scratch
COPY --from=build /rootfs/ /
USER 65532:65532
EXPOSE 9520/tcp
ENTRYPOINT ["/logship", "run", "-config", "/etc/logship/agent.yaml"]
