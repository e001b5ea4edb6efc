# The aegis binary (every role: sealer, indexer, ingest, query, verify, ...) for docker-compose.yml.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -o /aegis ./cmd/aegis

FROM gcr.io/distroless/static-debian12
COPY --from=build /aegis /aegis
ENTRYPOINT ["/aegis"]
