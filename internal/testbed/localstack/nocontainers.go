//go:build !containers

package localstack

import (
	"context"
	"errors"
)

func startContainers(context.Context) (*Stack, error) {
	return nil, errors.New("AEGIS_STACK=containers needs a build with -tags containers (make test-containers)")
}
