// Package loop is sol's event-loop runtime: N independent loops on raw epoll
// (Linux) or kqueue (darwin, FreeBSD) syscalls, each owning a shard of
// connections accepted through its own SO_REUSEPORT listener, with a mailbox
// for work posted by other goroutines, a timer wheel, and per-connection
// output buffering. It knows nothing of MQTT and imports nothing from the
// project (only golang.org/x/sys/unix and the standard library).
//
// # Ownership
//
// Every Conn belongs to one Loop, and only that loop's goroutine touches it;
// Handler callbacks, Timer functions and Mail all run there. Other
// goroutines talk to a loop through Loop.Post and to a connection through
// Conn.Shutdown. Methods say which goroutine may call them.
//
// # One iteration
//
//  1. Wait for readiness (timeout: the timer wheel's next deadline, none
//     without timers, zero when mail or redeliveries are left over).
//  2. Per ready descriptor: accept up to AcceptBudget on a listener; flush a
//     writable connection; read once into the loop's shared read buffer and
//     call Handler.Data. At most ReadBudget events per iteration.
//  3. Up to MailBudget mailbox items (Handler.Mail, or internal messages:
//     migrations, close requests, listener changes, stop).
//  4. Due timers; pending input of connections resumed with ResumeRead.
//  5. Handler.Flush, then one write/writev per connection written to.
//     EAGAIN keeps the rest and arms write interest until it drains.
//  6. Migrations requested during the iteration are posted.
//
// Handler.Closed runs after the callback that closed the connection
// returns, never re-entrantly.
//
// # Decisions (and why they differ from the first sketch)
//
//   - The Linux loop does not block inside epoll_wait. The epoll descriptor
//     is itself pollable, so it is handed to Go's netpoller (os.File,
//     RawConn.Read) and the loop goroutine parks there; epoll_wait is called
//     with a zero timeout only, and the timer deadline becomes a read
//     deadline. A goroutine blocked in a syscall keeps its P until sysmon
//     retakes it (20us to 10ms), which with few cores stalls the auth
//     workers, TLS handshakes and admin server of the same process. The old
//     way is kept behind parkInNetpoller for comparison
//     (BenchmarkEchoPollerWait).
//   - On Linux the loop's socket reads and writes and its zero-timeout
//     epoll_wait are raw system calls (sys_linux.go): they never sleep on
//     non-blocking descriptors, and an ordinary syscall that ran over 20us
//     had sysmon retake the P and then poll every 20us, which with 64 KiB
//     messages on one CPU came to ~1,000 sysmon sleeps and ~2,600 context
//     switches per 2,000 messages (perf stat); with raw calls 78 and 209.
//   - Listen probes the address with a socket bound without SO_REUSEPORT
//     and closes it before binding the group, so a port another process
//     holds (a second sol) fails with EADDRINUSE. The window between the
//     probe and the group bind is a few microseconds.
//   - Unix sockets, and TCP on darwin (where SO_REUSEPORT wakes only one
//     socket), use one acceptor socket on loop 0 that hands connections to
//     the loops in turn through their mailboxes.
//   - Migrate takes effect at the end of the iteration, after the old loop
//     is done with the connection (including storing unconsumed input as
//     pending), so it is safe to call from inside Data. The destination
//     calls Open and then Data with the pending input. A Shutdown that
//     reaches the destination before the connection does is held until it
//     arrives.
//   - Data is called again while it consumes something and input remains,
//     so a handler that consumes one message per call is still correct.
//   - Output is a queue of pooled 16 KiB chunks from a per-loop free list;
//     a drained connection holds none. The high watermark is a signal
//     (Congested, then Writable below the low watermark), not a drop: the
//     broker bounds what it queues. A large immutable buffer can be queued
//     by reference instead of copied (Conn.WriteRef): writev sends it from
//     where it lies, and its Releaser is called once it is written or the
//     connection closes, so the broker's payloads reach the socket without
//     a copy in user space.
//   - A large message read into a buffer of its own (pending input, or a
//     hinted read) can be handed to the handler (Conn.TakeInput) instead
//     of being copied out of it; the next one is read into a fresh buffer
//     from Options.InputBuffer, which the broker fills from its message
//     pool, so buffers go round: input, message, output, pool, input.
//   - Close shuts down the write side after flushing and reads until the
//     peer closes (discarding input), bounded by CloseTimeout, so the peer
//     reads the last packet instead of a reset.
//   - Accept failing with EMFILE/ENFILE/ENOBUFS/ENOMEM stops accepting on
//     that socket for 100ms instead of spinning on a readable listener.
//   - A server stops when every loop has been told to stop and no
//     connection is left anywhere, including ones travelling between loops,
//     so none is lost in a mailbox of a loop that already exited.
//
// # Memory
//
// Per loop: the read buffer (ReadBufferSize), the event array, up to 256
// free output chunks (4 MiB), up to 4096 free connIOs, a connection table
// indexed by descriptor. Per idle connection: the 96-byte Conn and its slot
// in the table (127 bytes of Go heap per connection measured by
// TestIdleConnMemory with 10,000 connections). Input and output buffers
// (connIO) are attached only while a message is incomplete or output is
// queued; a transport, a migration or a graceful close adds a connExt.
// A loop that has seen a message larger than its read buffer (announced
// with ExpectInput) keeps a table of 4 bytes per descriptor slot with the
// size of each connection's last one (the read size for its next input,
// in a buffer from the loop's free list of up to 8 large buffers, or from
// Options.InputBuffer); it holds no buffer between reads.
package loop
