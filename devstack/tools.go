//go:build tools

// Package devstack pins the development servers' versions in this module's
// go.mod, apart from the audit module's dependency graph.
package devstack

import (
	_ "github.com/twmb/franz-go/pkg/kfake"
	_ "github.com/versity/versitygw/cmd/versitygw"
)
