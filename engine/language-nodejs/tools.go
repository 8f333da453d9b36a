//go:build tools

// The nodejs language host. Its own module (sdk/nodejs/cmd/pulumi-language-nodejs/v3) is not
// served by the Go module proxy; sdk/v3 v3.68.0 is the newest release that still ships it
// inside the sdk module, and it speaks the language protocol the v3.248 CLI falls back to.
package tools

import _ "github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs"
