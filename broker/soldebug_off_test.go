//go:build !soldebug

package broker_test

// soldebug: freed messages are poisoned and never reused, so allocation
// counts do not hold.
const soldebug = false
