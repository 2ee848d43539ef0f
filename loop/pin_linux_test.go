//go:build linux

package loop

import (
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// pinProcess restricts every thread of this process to cpu (threads created
// later inherit the mask) and returns a function restoring the previous
// mask, or nil when the machine has a single CPU or pinning fails.
func pinProcess(tb testing.TB, cpu int) (restore func()) {
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil || old.Count() < 2 || !old.IsSet(cpu) {
		return nil
	}
	var set unix.CPUSet
	set.Set(cpu)
	if !setProcessAffinity(&set) {
		setProcessAffinity(&old)
		return nil
	}
	return func() { setProcessAffinity(&old) }
}

func setProcessAffinity(s *unix.CPUSet) bool {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return false
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, s); err != nil && err != unix.ESRCH {
			return false
		}
	}
	return true
}
