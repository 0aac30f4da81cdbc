// Command coffer is the one binary of Coffer: the server, its administration
// verbs, a client for the HTTP API, the benchmark and the PII scanner.
package main

import (
	"os"
)

func main() {
	os.Exit(Main(os.Args[1:], stdEnv()))
}
