package broker

// session is the MQTT session state of one client identifier. It lives on
// the loop its client identifier hashes to (owner), connected or not, and
// only that loop's goroutine reads or writes it after creation (doc.go).
type session struct {
	clientID string
	owner    int // loop index; fixed for the session's life

	queue    sessionQueue
	inflight inflightOut
	qos2In   qos2In
}
