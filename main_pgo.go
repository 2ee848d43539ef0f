//go:build pgoprofile

package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// With the build tag pgoprofile, SOL_CPUPROFILE names a file that receives a
// CPU profile of the whole run, written at shutdown: scripts/pgo.sh uses it
// to refresh default.pgo, the profile the Go compiler optimises sol with.
func init() {
	path := os.Getenv("SOL_CPUPROFILE")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		panic(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		panic(err)
	}
	stopProfile = func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "sol: writing CPU profile %s: %v\n", path, err)
		}
	}
}
