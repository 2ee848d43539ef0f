package broker

// LiveMsgs is the number of pooled messages with references outstanding;
// always 0 without -tags soldebug, which is when it is counted.
func LiveMsgs() int64 { return liveMsgs.Load() }

// OwnerOf is the loop that owns client identifier id among loops loops.
func OwnerOf(id string, loops int) int { return int(fnv1a([]byte(id)) % uint32(loops)) }
