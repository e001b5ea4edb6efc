#!/usr/bin/env bash
# make vulncheck: govulncheck over the project's module against the Go
# vulnerability database, offline. The database is built once from the
# golang.org/x/vulndb module (pinned below, served by the Go module proxy)
# with that repository's own gendb into bin/vulndb-<version>, so the check
# needs no access to vuln.go.dev and says the same on every machine until
# the pin moves. VULNDB=<url> uses another database (VULNDB=https://vuln.go.dev
# for today's). It fails when the project's code calls a vulnerable symbol
# of the standard library or of a module it requires.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
GOVULNCHECK_VERSION=v1.9.0
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018

GOBIN="$PWD/bin" "$GO" install "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION"

db=${VULNDB:-}
if [ -z "$db" ]; then
	out="$PWD/bin/vulndb-$VULNDB_VERSION"
	if [ ! -f "$out/index/db.json" ]; then
		# The JSON is kept whole: on a failed download it holds the reason
		# ("Error"), which a pipe into sed would swallow under pipefail.
		json=$("$GO" mod download -json "golang.org/x/vulndb@$VULNDB_VERSION") || {
			echo "vulncheck: golang.org/x/vulndb@$VULNDB_VERSION did not download:" >&2
			printf '%s\n' "$json" >&2
			exit 1
		}
		src=$(printf '%s\n' "$json" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
		[ -n "$src" ] || { echo "vulncheck: no Dir in go mod download's answer: $json" >&2; exit 1; }
		# Built beside $out (same file system), so the final mv is a rename:
		# an interrupted run never leaves a partial $out with index/db.json.
		mkdir -p "$PWD/bin"
		work=$(mktemp -d "$PWD/bin/vulndb-build.XXXXXX")
		trap 'rm -rf "$work"' EXIT
		# gendb reads the reports from a git repository; the module is a
		# plain (read-only) copy of one.
		cp -r "$src/." "$work/repo" && chmod -R u+w "$work/repo"
		git -C "$work/repo" init -q
		git -C "$work/repo" add -A
		git -C "$work/repo" -c user.name=vulncheck -c user.email=vulncheck@localhost \
			-c commit.gpgsign=false -c core.hooksPath=/dev/null commit -q --no-verify -m "golang.org/x/vulndb@$VULNDB_VERSION"
		(cd "$work/repo" && "$GO" run ./cmd/gendb -repo . -out "$work/db")
		rm -rf "$out" && mv "$work/db" "$out"
	fi
	db="file://$out"
fi
echo "vulncheck: $("$GO" version), database $db"
bin/govulncheck -db "$db" ./...
