package broker

// LiveMsgs is the number of pooled messages with references outstanding;
// always 0 without -tags soldebug, which is when it is counted.
func LiveMsgs() int64 { return liveMsgs.Load() }
