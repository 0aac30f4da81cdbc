// Package examples embeds the example schema so that the binary's --dev
// mode works from any directory.
package examples

import _ "embed"

// Shop is examples/shop.yaml, the schema of SPEC §2.
//
//go:embed shop.yaml
var Shop []byte
