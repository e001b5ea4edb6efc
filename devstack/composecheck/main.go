// Command composecheck checks a docker-compose.yml where no Docker engine
// runs: it loads the file with compose-go, the library docker compose
// itself loads files with (schema, interpolation, references between
// services, volumes and networks), then checks what an engine would find
// only at `up`:
//
//   - every image is pinned to a tag or a digest (not latest, not bare);
//   - every build context exists and holds a Dockerfile;
//   - with -aegis, every service built from the repository runs an aegis
//     command whose settings (its flags and variables alone) pass
//     `aegis --check-settings`, its health check (when it runs
//     /aegis) too, and every AEGIS_ variable it sets is one aegis reads
//     (docs/CONFIG.md).
//
// With -kube it checks Kubernetes manifests instead (CheckKube).
//
// Usage: composecheck [-aegis bin/aegis] docker-compose.yml
// or:    composecheck -kube -aegis bin/aegis deploy/kubernetes/aegis.yaml
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
)

func main() {
	aegis := flag.String("aegis", "", "the aegis binary, to check the flags and variables of the services built from the repository")
	kube := flag.Bool("kube", false, "the file is Kubernetes manifests (needs -aegis)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: composecheck [-aegis bin/aegis] docker-compose.yml | composecheck -kube -aegis bin/aegis aegis.yaml")
		os.Exit(2)
	}
	check := Check
	if *kube {
		check = CheckKube
	}
	rep, err := check(context.Background(), flag.Arg(0), *aegis)
	if err != nil {
		fmt.Fprintln(os.Stderr, "composecheck:", err)
		os.Exit(1)
	}
	fmt.Print(rep)
}
