//go:build pprof

package main

// Built with -tags pprof (performance work only), the binary serves
// net/http/pprof on 127.0.0.1:6060. Release builds never include it.

import (
	"net/http"
	_ "net/http/pprof"
)

func init() { go http.ListenAndServe("127.0.0.1:6060", nil) }
