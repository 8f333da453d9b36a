//go:build tools

// Pins the Pulumi CLI and the nodejs language host to the versions the npm lockfile resolves;
// build.sh builds both from this module.
package tools

import (
	_ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
)
