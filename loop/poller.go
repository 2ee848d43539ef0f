package loop

// Interest bits for a descriptor in a poller.
const (
	evRead  uint8 = 1 << iota // want readability
	evWrite                   // want writability
)

// Readiness bits reported by a poller.
const (
	rdRead  uint8 = 1 << iota // readable (or EOF)
	rdWrite                   // writable
	rdHup                     // hang-up or error: the next read reports it
)

// ready is one readiness event, platform independent.
type ready struct {
	fd    int32
	flags uint8
}

// pollerAPI is the one internal interface both pollers implement
// (poller_epoll.go on Linux, poller_kqueue.go on darwin and FreeBSD). The
// loop uses the concrete type, so the interface costs no dynamic dispatch; it
// is here to keep the two implementations in step.
type pollerAPI interface {
	// add registers fd with interest ev.
	add(fd int, ev uint8) error
	// mod changes fd's interest from old to ev.
	mod(fd int, old, ev uint8) error
	// del removes fd (interest old) from the poller; call it before close(2).
	del(fd int, old uint8) error
	// wait blocks at most timeoutMs (-1: forever) and fills out; it reports
	// wake-ups through woken and drains them.
	wait(out []ready, timeoutMs int) (n int, woken bool, err error)
	// wake makes a blocked or the next wait return; any goroutine.
	wake() error
	// close releases the poller's descriptors.
	close() error
}

var _ pollerAPI = (*poller)(nil)
