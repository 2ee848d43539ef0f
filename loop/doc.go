// Package loop is sol's event-loop runtime: N independent loops on raw epoll
// (Linux) or kqueue (BSD, macOS) syscalls, each owning a shard of connections
// accepted through its own SO_REUSEPORT listener, with a mailbox for work posted
// by other goroutines, a timer wheel, and per-connection output buffering.
// It knows nothing of MQTT and imports nothing from the project.
package loop
