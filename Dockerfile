# Logatron as a container: a static binary on a distroless base, run as a
# non-root user.
#
#   docker build --build-arg REVISION=$(git rev-parse HEAD) -t logatron .
#   docker run -p 2212:2212 logatron
#
# Configure it with LOGATRON_<FLAG> variables (LOGATRON_MAX_MEMORY=2GiB) or
# flags after the image name (docker run logatron -buffer 256).

# go.mod asks for Go 1.26.8 or later; the image's toolchain is used as is
# (GOTOOLCHAIN=local), so its 1.26 must be at least that.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The build context has no .git (.dockerignore), so Go cannot stamp the VCS
# revision: it comes in as a build argument and -version prints it.
ARG REVISION=
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
        -ldflags "-s -w -X main.revision=${REVISION}" -o /out/logatron . \
    && /out/logatron -version

FROM gcr.io/distroless/static-debian13:nonroot
COPY --from=build /out/logatron /logatron
COPY LICENSE /LICENSE
USER nonroot:nonroot
# 2212 data (clients; all addresses by default), 2213 admin and 2214 HTTP.
# Admin and HTTP stay on the container's loopback unless told otherwise:
# they hand out every client's logs. To reach them from outside set
# LOGATRON_ADMIN=0.0.0.0:2213 and LOGATRON_HTTP=0.0.0.0:2214 together with
# LOGATRON_ADMIN_TOKEN, and publish them on a trusted address only.
EXPOSE 2212 2213 2214
# The binary checks itself: PING on the admin port (after AUTH when
# LOGATRON_ADMIN_TOKEN is set), answered by the event loop. It reads the
# same LOGATRON_ADMIN as the server, so the admin port must stay enabled.
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
    CMD ["/logatron", "-healthcheck"]
ENTRYPOINT ["/logatron"]
