package mqtt

// Auth is an MQTT 5.0 AUTH packet (section 3.15), for enhanced
// authentication. The byte slices in Props are views into the decoded buffer.
type Auth struct {
	Reason ReasonCode // Success, ContinueAuthentication or ReAuthenticate
	Props  Properties // Authentication Method and Data, Reason String, User Properties
}

// DecodeAuth decodes the whole AUTH packet buf into p in place. AUTH exists
// only in 5.0: for an earlier version type 15 is reserved and the packet is
// malformed. An absent reason code means Success (section 3.15.2.1).
func DecodeAuth(buf []byte, version byte, p *Auth) error {
	if version < Version5 {
		return perr(AUTH, MalformedPacket, "", "AUTH before MQTT 5.0 is a reserved packet type") // [MQTT-2.2.2-1] (3.1.1)
	}
	return decodeReasonOnly(buf, version, AUTH, &p.Reason, &p.Props)
}

// AuthSize returns the size of the AUTH AppendAuth would append.
func AuthSize(reason ReasonCode, props *Properties) int {
	n, _ := reasonOnlyRemaining(Version5, AUTH, reason, props)
	return packetSize(n)
}

// AppendAuth appends a 5.0 AUTH packet to dst; the reason code and properties
// are omitted when reason is Success and props is empty. props may be nil.
// No allocation when dst has room.
func AppendAuth(dst []byte, reason ReasonCode, props *Properties) []byte {
	return appendReasonOnly(dst, Version5, AUTH, reason, props)
}
