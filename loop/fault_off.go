//go:build !soldebug

package loop

// faultHook is empty without soldebug: no test can make a loop fail.
type faultHook struct{}

// take reports no injected failure.
func (faultHook) take() error { return nil }
