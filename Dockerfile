# The aegis binary (every role: sealer, indexer, ingest, query, verify, ...) for docker-compose.yml.
FROM golang:1.27.3 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The commit `aegis version` and aegis_build_info report (the context has
# no .git): `make up` passes it.
ARG AEGIS_COMMIT=""
RUN CGO_ENABLED=0 go build -ldflags "-X main.commit=${AEGIS_COMMIT}" -o /aegis ./cmd/aegis

# Not root: distroless's nonroot user, by number so that Kubernetes'
# runAsNonRoot can tell. docker-compose.yml runs the roles as the user who
# ran `make up` instead, who owns the keys and the spool folder.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /aegis /aegis
USER 65532:65532
ENTRYPOINT ["/aegis"]
