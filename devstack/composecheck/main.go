// Command composecheck checks a docker-compose.yml where no Docker engine
// runs: it loads the file with compose-go, the library docker compose
// itself loads files with (schema, interpolation, references between
// services, volumes and networks), then checks what an engine would find
// only at `up`:
//
//   - every image is pinned to a tag or a digest (not latest, not bare);
//   - every build context exists and holds a Dockerfile;
//   - with -aegis, every service built from the repository runs an aegis
//     command whose flags aegis accepts, its health check (when it runs
//     /aegis) too, and every AEGIS_ variable it sets is one aegis reads
//     (docs/CONFIG.md).
//
// Usage: composecheck [-aegis bin/aegis] docker-compose.yml
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
)

func main() {
	aegis := flag.String("aegis", "", "the aegis binary, to check the flags and variables of the services built from the repository")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: composecheck [-aegis bin/aegis] docker-compose.yml")
		os.Exit(2)
	}
	rep, err := Check(context.Background(), flag.Arg(0), *aegis)
	if err != nil {
		fmt.Fprintln(os.Stderr, "composecheck:", err)
		os.Exit(1)
	}
	fmt.Print(rep)
}
